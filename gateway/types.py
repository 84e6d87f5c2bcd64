"""Types shared by the pipeline's stages. Kept in one module so each stage imports from one place."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple


class Label(enum.Enum):
    """What kind of information a field is; every schema field carries exactly one."""

    DIRECTORY = "directory"
    IDENTITY = "identity"
    CONTACT = "contact"
    INVOLVEMENT = "involvement"
    SENSITIVE = "sensitive"
    CASE = "case"
    RESTRICTED = "restricted"
    META = "meta"  # about the answer itself (sources, warnings): returned with the child, never about them


class Purpose(enum.Enum):
    SAFEGUARDING = "safeguarding"
    ROUTINE_CARE = "routine-care"
    EMERGENCY = "emergency"
    EDUCATION = "education"
    AUDIT = "audit"


MatchGrade = Literal["certain", "probable", "possible"]
MATCH_ORDER: dict[str, int] = {"certain": 0, "probable": 1, "possible": 2}


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is asking, from their verified token."""

    practitioner_id: str
    role: str
    agency: str
    mfa: bool
    name: str = ""
    token_id: str = ""


class FieldClass(NamedTuple):
    """The facts about a field that a policy decision may depend on. Many fields share one class.

    A tuple, not a dataclass: classes are hashed hundreds of times per request, and tuples hash in C.
    """

    label: str
    agency: str
    coordinate: str  # "Type.field", as in the schema


Action = Literal["allow", "deny", "mask"]


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    mask: str | None = None


DENY_UNAVAILABLE = Decision("deny", "POLICY_UNAVAILABLE")


@dataclass(frozen=True, slots=True)
class Completed:
    """An object's answer, already completed as GraphQL would complete it (see ``gateway.pipeline.policy.complete``).

    A resolver returns it in place of a typed object; the executor passes ``data`` through unwalked.
    """

    data: dict[str, Any] | None


@dataclass(slots=True)
class Withheld:
    """A part of the answer policy withheld: where, why, and (for a list of items from several agencies)
    whose items."""

    path: tuple[str | int, ...]
    reason: str
    code: str = "FORBIDDEN_FIELD"
    agency: str | None = None
