"""Plan: from what the query selected, which agencies to call.

Only the agencies whose data the query selects are called, plus those policy needs facts from:
health (the demographic spine every link starts from), every agency that supplies facts (social
care: shield flag and consents), and the requester's own agency (own-agency and involvement checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from gateway.agencies.connectors import Connector
from gateway.types import Subject

SPINE = "health"

CHILD_SECTIONS: dict[str, str] = {
    "name": "identity",
    "dateOfBirth": "identity",
    "gender": "identity",
    "deceased": "identity",
    "address": "address",
    "gp": "gp",
    "school": "school",
    "earlyHelp": "earlyHelp",
    "socialCare": "socialCare",
    "education": "education",
    "police": "police",
    "housing": "housing",
    "youthJustice": "youthJustice",
    "mentalHealth": "mentalHealth",
    "sexualHealth": "sexualHealth",
}
"""Child field -> the connector section that fills it."""


@dataclass(slots=True)
class Sel:
    """One selected field, fragments already merged in: schema name, response key, sub-selections."""

    name: str
    key: str
    children: list[Sel] = field(default_factory=list)
    # The policy stage's per-(type, agency, label) view of the children, made on first use (see
    # ``policy._children``); it lives as long as the selection, which is cached per document.
    plans: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


def _skipped(directives: Mapping[str, Mapping[str, Any]]) -> bool:
    if "skip" in directives and directives["skip"].get("if"):
        return True
    return "include" in directives and not directives["include"].get("if", True)


def flatten(selections: Iterable[Any]) -> list[Sel]:
    """Strawberry's selection tree with fragments and @skip/@include resolved; repeated keys merged."""
    out: dict[str, Sel] = {}

    def visit(items: Iterable[Any]) -> None:
        for item in items:
            if isinstance(item, SelectedField):
                if _skipped(item.directives):
                    continue
                key = item.alias or item.name
                sel = out.get(key)
                children = flatten(item.selections) if item.selections else []
                if sel is None:
                    out[key] = Sel(item.name, key, children)
                else:
                    sel.children = _merge(sel.children, children)
            elif isinstance(item, (InlineFragment, FragmentSpread)):
                if not _skipped(item.directives):
                    visit(item.selections)

    visit(selections)
    return list(out.values())


_SELECTIONS: dict[int, tuple[Any, list[Sel]]] = {}
_SELECTIONS_MAX = 512


def selection_of(info: Any) -> list[Sel]:
    """The flattened selection of the field being resolved, computed once per parsed document.

    Strawberry's parser cache hands every request with the same text the same document, so its field
    node identifies the selection; documents with directives (``@skip``/``@include`` depend on
    variables) are flattened per request. Treat the result as read-only.
    """
    node = info._raw_info.field_nodes[0]
    hit = _SELECTIONS.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    selection = flatten(info.selected_fields[0].selections)
    body = node.loc.source.body if node.loc is not None else "@"
    if "@" not in body:
        if len(_SELECTIONS) >= _SELECTIONS_MAX:
            _SELECTIONS.clear()
        _SELECTIONS[id(node)] = (node, selection)  # the node is kept alive, so its id is not reused
    return selection


def _merge(a: list[Sel], b: list[Sel]) -> list[Sel]:
    merged = {s.key: s for s in a}
    for s in b:
        if s.key in merged:
            merged[s.key].children = _merge(merged[s.key].children, s.children)
        else:
            merged[s.key] = s
    return list(merged.values())


@dataclass(frozen=True, slots=True)
class Plan:
    agencies: frozenset[str]
    selection: tuple[Sel, ...]


def plan_child(selection: list[Sel], connectors: Mapping[str, Connector], subject: Subject) -> Plan:
    names = {s.name for s in selection}
    wanted = {SPINE}
    sections = {CHILD_SECTIONS[n] for n in names if n in CHILD_SECTIONS}
    for agency, connector in connectors.items():
        if connector.facts:
            wanted.add(agency)
        if sections.intersection(connector.sections):
            wanted.add(agency)
        if "involvements" in names and connector.involvements:
            wanted.add(agency)
        if "conflicts" in names and connector.demographics:
            wanted.add(agency)
    if subject.agency in connectors:
        wanted.add(subject.agency)
    # Lookups that wait on another agency's answer need that agency called too.
    frontier = list(wanted)
    while frontier:
        for dep in connectors[frontier.pop()].needs():
            if dep not in wanted:
                wanted.add(dep)
                frontier.append(dep)
    return Plan(frozenset(a for a in wanted if a in connectors), tuple(selection))
