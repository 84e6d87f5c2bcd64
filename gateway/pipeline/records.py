"""What the fan-out hands to linking: each agency's answer, its records, and who the records say the child is.

Kept apart from both stages: the fan-out produces these, linking reads them. (The fan-out imports
:mod:`gateway.pipeline.link` only for the :class:`~gateway.pipeline.link.Matcher` seam it grades with.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.agencies.connectors import Connector
from gateway.errors import AgencyError
from gateway.types import MatchGrade


@dataclass(frozen=True, slots=True)
class Demographics:
    """Who a record says the child is: the fields records are linked and searched by."""

    given: str | None
    family: str | None
    dob: dt.date | None
    postcode: str | None
    gender: str | None = None
    nhs_number: str | None = None  # as the record holds it (linkage checks it is a valid one)


def extract_demographics(connector: Connector, record: Any) -> Demographics:
    """The connector's ``record.demographics`` (and the NHS number, where it holds one) read out of a record."""
    d = connector.demographics
    values = {k: (d[k](record) if k in d else None) for k in ("given", "family", "dob", "postcode", "gender")}
    dob = values["dob"]
    nhs = connector.nhs_number(record) if connector.nhs_number is not None else None
    return Demographics(
        given=str(values["given"]) if values["given"] else None,
        family=str(values["family"]) if values["family"] else None,
        dob=dob if isinstance(dob, dt.date) else None,
        postcode=str(values["postcode"]) if values["postcode"] else None,
        gender=str(values["gender"]) if values["gender"] else None,
        nhs_number=str(nhs) if nhs else None,
    )


@dataclass(slots=True)
class LinkedRecord:
    raw: Any
    grade: MatchGrade
    via: str  # nhs_number / cross_reference / demographics
    demographics: Demographics | None = None  # when they were extracted to grade the match
    score: float | None = None  # the match probability, where the record was linked by score
    pattern: Mapping[str, str] | None = None  # the agreement pattern behind the score


@dataclass(slots=True)
class AgencyAnswer:
    """One agency's part of the fan-out: its linked records, or why there are none."""

    agency: str
    status: str = "ok"  # ok | unavailable | timeout | bad-response | circuit-open | not-called
    records: list[LinkedRecord] = field(default_factory=list)  # linked to the child, the best grade first
    # Records a lookup returned that the linker did not accept but that might be the child's (the same
    # surname and date of birth): restrictive facts (a shield, a refuge) count from these too.
    candidates: list[Any] = field(default_factory=list)
    latency_ms: float | None = None
    error: AgencyError | None = None
    demographics: Demographics | None = None  # the first record's, extracted once (for the spine)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the gateway forwards to every agency with each call: who is asking, why, and which request."""

    practitioner_id: str
    purpose: str
    request_id: str

    def headers(self) -> dict[str, str]:
        return {"X-Practitioner-Id": self.practitioner_id, "X-Purpose": self.purpose, "X-Request-Id": self.request_id}
