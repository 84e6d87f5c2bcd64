"""Collecting field classes: which (label, agency, field) classes an answer to this selection would contain.

The root of an answer (a child, a search match) is given as :class:`Node` s, one per field: the value, the
agency it came from, a label that replaces the schema's where the value's own nature decides it, and the
agency's error if its part failed. Two passes walk the same selection over the same nodes: this one
gathers the classes policy must decide (:func:`collect`); :mod:`gateway.pipeline.policy.complete` builds
the answer with the decisions applied. Nothing here knows a field by name.

A list whose items each come from their own agency with their own label (involvements: a CAMHS
involvement is sensitive, a police one restricted) is a :class:`Tagged` list. It carries every
(agency, label) an item *could* have, and each of those classes is decided whether or not such an item
exists: what is withheld is marked by class, never by whether a hidden record is there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gateway.errors import AgencyError
from gateway.graphql.labels import FieldInfo, FieldTable
from gateway.graphql.selection import Sel
from gateway.types import Decision, FieldClass, Label, Withheld

GATEWAY = "gateway"  # the agency of values the gateway itself computes (sources, grade, warnings, conflicts)


class Node(NamedTuple):
    """One field of an answer's root: its value, where it came from, a label override, an agency's failure."""

    value: Any
    agency: str
    label: Label | None = None
    error: AgencyError | None = None


class Derived:
    """Stands for a value the gateway works out only after the decision (sources, conflicts, the grade):
    its classes are those of the selection over its type, whatever the value turns out to be."""

    def __repr__(self) -> str:
        return "DERIVED"


DERIVED = Derived()


@dataclass(frozen=True, slots=True)
class Tagged:
    """A list whose items each carry their own agency and label, and every (agency, label) one could carry."""

    items: Sequence[tuple[str, Label, Any]]
    possible: Sequence[tuple[str, Label]]


@dataclass(slots=True)
class Walk:
    """What one walk over an answer needs and produces."""

    table: FieldTable
    decisions: Mapping[FieldClass, Decision] | None = None
    classes: set[FieldClass] = field(default_factory=set)
    withheld: list[Withheld] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    returned_classes: set[tuple[str, str]] = field(default_factory=set)  # (label, agency) of every leaf returned
    agency_errors: list[tuple[tuple[str | int, ...], AgencyError]] = field(default_factory=list)
    interned: dict[tuple[str, str, Label | None], FieldClass] = field(default_factory=dict)  # shared across walks


def field_class(walk: Walk, info: FieldInfo, agency: str, label: Label | None) -> FieldClass:
    """The field's class; interned, since the same few hundred are built for every request."""
    key = (info.coordinate, agency, label)
    fc = walk.interned.get(key)
    if fc is None:
        if len(walk.interned) > 100_000:  # agencies and coordinates are finite; this only guards against surprises
            walk.interned.clear()
        fc = walk.interned[key] = FieldClass((label or info.label).value, agency, info.coordinate)
    return fc


def children_of(
    walk: Walk, cls: type, sel: Sel, agency: str, label: Label | None
) -> tuple[tuple[Sel, FieldInfo | None, FieldClass | None], ...]:
    """Each selected child of ``sel`` on ``cls`` with its field and class (both None: ``__typename``),
    worked out once per selection, type, agency and label rather than for every object of every request."""
    key = (cls, agency, label)
    children = sel.plans.get(key)
    if children is None:
        fields = walk.table[cls]
        children = sel.plans[key] = tuple(
            (child, info, field_class(walk, info, agency, label) if info is not None else None)
            for child in sel.children
            if (info := fields.get(child.name)) is not None or child.name == "__typename"
        )
    return children


def node_class(walk: Walk, info: FieldInfo, node: Node) -> FieldClass:
    """A root field's class: a failed part is decided as its agency's field, like a filled one."""
    agency = node.error.agency if node.error is not None and node.value is None else node.agency
    return field_class(walk, info, agency, node.label)


def collect(walk: Walk, root: type, selection: Sequence[Sel], nodes: Mapping[str, Node]) -> None:
    """The distinct field classes the answer to ``selection`` over ``nodes`` would contain."""
    fields = walk.table[root]
    for sel in selection:
        info = fields.get(sel.name)
        if info is None:
            continue
        node = nodes.get(sel.name) or Node(None, GATEWAY)
        walk.classes.add(node_class(walk, info, node))
        value = node.value
        if value is DERIVED:
            if info.target is not None:
                _selection(walk, info.target, sel, node.agency, node.label)
        elif isinstance(value, Tagged):
            for agency, label in value.possible:
                walk.classes.add(field_class(walk, info, agency, label))
            if info.target is not None:
                for agency, label, item in value.items:
                    _object(walk, info.target, sel, item, agency, label)
        elif value is not None and info.target is not None:
            _descend(walk, info, sel, value, node.agency, node.label)


def _selection(walk: Walk, cls: type, sel: Sel, agency: str, label: Label | None) -> None:
    for child, info, fc in children_of(walk, cls, sel, agency, label):
        if fc is not None and info is not None:
            walk.classes.add(fc)
            if info.target is not None:
                _selection(walk, info.target, child, agency, label)


def _descend(walk: Walk, info: FieldInfo, sel: Sel, value: Any, agency: str, label: Label | None) -> None:
    assert info.target is not None
    if info.is_list:
        if isinstance(value, list):
            for item in value:
                _object(walk, info.target, sel, item, agency, label)
    else:
        _object(walk, info.target, sel, value, agency, label)


def _object(walk: Walk, cls: type, sel: Sel, value: Any, agency: str, label: Label | None) -> None:
    if not isinstance(value, dict):  # (an ABC check costs several times more, on every object)
        return
    for child, info, fc in children_of(walk, cls, sel, agency, label):
        if fc is None or info is None:
            continue
        walk.classes.add(fc)
        if info.target is not None:
            inner = value.get(child.name)
            if inner is not None:
                _descend(walk, info, child, inner, agency, label)
