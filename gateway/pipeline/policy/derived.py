"""What the gateway says about an answer itself, worked out per requester from what that requester may see.

A requester may know that an agency holds a record on the child only if policy allows the agency's
*presence class* (its connector's ``presence_label``, that agency, any field). Everything the gateway
computes about the answer comes only from agencies whose presence the requester may know:

- the match grade and the weak-match rule (:func:`seen_grade`): from the records of the agencies called
  for every child request (the spine and the agencies that supply facts), so neither depends on what
  the query selects; any other agency's weakly linked record withholds only that agency's fields;
- ``sources`` (:func:`sources`): how long an agency took is given only where its presence may be known;
- ``conflicts`` (:func:`conflicts`): each agency's value counts only if its presence may be known and the
  field it is about may be seen, masked as that field would be; an entry is listed only when the values
  the requester sees disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from gateway.graphql.labels import FieldTable
from gateway.pipeline.link import Observation, same_value
from gateway.pipeline.policy.decide import ANY_FIELD
from gateway.pipeline.policy.masks import MASKS
from gateway.types import DENY_UNAVAILABLE, MATCH_ORDER, Decision, FieldClass, Label


def presence_class(agency: str, label: Label) -> FieldClass:
    """The class of "this agency holds a record on the child"."""
    return FieldClass(label.value, agency, ANY_FIELD)


def visible_agencies(decisions: Mapping[FieldClass, Decision], presence: Mapping[str, Label]) -> frozenset[str]:
    """The agencies whose holding a record this requester may know."""
    return frozenset(
        agency
        for agency, label in presence.items()
        if decisions.get(presence_class(agency, label), DENY_UNAVAILABLE).action != "deny"
    )


def seen_grade(
    grades: Mapping[str, str], visible: Collection[str], core: Collection[str]
) -> tuple[str, frozenset[str]]:
    """The match grade this requester sees, and the agencies whose weak records withhold their own fields.

    The grade is the worst among the core agencies' records the requester may see (called for every
    child request, so it does not depend on the selection); every visible agency linked below certain is
    weak. Records the requester may not see count for neither.
    """
    grade = "certain"
    weak = []
    for agency, agency_grade in grades.items():
        if agency not in visible or agency_grade == "certain":
            continue
        weak.append(agency)
        if agency in core and MATCH_ORDER[agency_grade] > MATCH_ORDER[grade]:
            grade = agency_grade
    return grade, frozenset(weak)


def warnings(grade: str) -> list[str]:
    if grade == "certain":
        return []
    return [f"Some records were linked by name and date of birth only (match: {grade})."]


def sources(seen: Iterable[tuple[str, str, float | None]], visible: Collection[str]) -> list[dict[str, Any]]:
    """How each agency answered; its latency only where the requester may know it holds a record (a lookup
    that found the child can take longer than one that did not)."""
    return [{"agency": a, "status": s, "latencyMs": ms if a in visible else None} for a, s, ms in seen]


class ObservedLabels:
    """The label of each field a conflict can be about, read from the schema once."""

    def __init__(self, table: FieldTable) -> None:
        self.labels = {info.coordinate: info.label for fields in table.values() for info in fields.values()}

    def value_class(self, observation: Observation) -> FieldClass:
        return FieldClass(self.labels[observation.coordinate].value, observation.agency, observation.coordinate)


def observation_classes(observations: Sequence[Observation], labels: ObservedLabels) -> set[FieldClass]:
    """The classes deciding who may see each agency's value: the field it is about, from that agency."""
    return {labels.value_class(o) for o in observations}


def conflicts(
    observations: Sequence[Observation],
    labels: ObservedLabels,
    decisions: Mapping[FieldClass, Decision],
    visible: Collection[str],
) -> list[dict[str, Any]]:
    """Every field on which the values this requester may see disagree, with each agency's value."""
    by_field: dict[str, list[dict[str, Any]]] = {}
    for o in observations:
        if o.agency not in visible:
            continue
        decision = decisions.get(labels.value_class(o), DENY_UNAVAILABLE)
        if decision.action == "deny":
            continue
        value = MASKS[decision.mask or ""](o.value) if decision.action == "mask" else o.value
        by_field.setdefault(o.field, []).append({"agency": o.agency, "value": value})
    out = []
    for name, values in by_field.items():
        if len({same_value(str(v["value"])) for v in values}) > 1:
            out.append({"field": name, "values": values})
    return out
