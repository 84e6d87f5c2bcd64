"""Walking a child's profile over the query's selection: the field classes it contains, and the answer
with the policy's decisions applied. (Being split into :mod:`classes` and :mod:`complete`.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import AgencyBadResponse
from gateway.graphql.labels import FieldInfo, FieldTable, type_name
from gateway.graphql.selection import Sel
from gateway.pipeline.link import Profile
from gateway.pipeline.policy.masks import MASKS
from gateway.types import DENY_UNAVAILABLE, Completed, Decision, FieldClass, Label, Withheld


@dataclass(slots=True)
class Walk:
    """What one walk over a child's profile needs and produces."""

    table: FieldTable
    decisions: Mapping[FieldClass, Decision] | None = None
    classes: set[FieldClass] = field(default_factory=set)
    withheld: list[Withheld] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    agency_errors: list[tuple[tuple[str | int, ...], Any]] = field(default_factory=list)
    interned: dict[tuple[str, str, Label | None], FieldClass] = field(default_factory=dict)  # shared across walks


def child_nodes(profile: Profile) -> dict[str, tuple[Any, str, Label | None]]:
    """Each Child field's value, the agency it came from, and a label override (None: the schema's)."""
    out: dict[str, tuple[Any, str, Label | None]] = {
        "id": (profile.nhs_number, profile.spine, None),
        "matchGrade": (profile.facts.match_grade, "gateway", None),
        "warnings": (list(profile.warnings), "gateway", None),
        "sources": (
            [{"agency": a, "status": s, "latencyMs": ms} for a, s, ms in profile.sources],
            "gateway",
            None,
        ),
        "involvements": (profile.involvements, "*", None),
        "conflicts": (profile.conflicts, "*", None),
    }
    for name, agency in profile.origin.items():
        out[name] = (profile.fields.get(name), agency, None)
    for name, value in profile.fields.items():
        out.setdefault(name, (value, profile.spine, None))
    return out


def _class(walk: Walk, info: FieldInfo, agency: str, override: Label | None) -> FieldClass:
    """The field's class; interned, since the same few hundred are built for every request."""
    key = (info.coordinate, agency, override)
    fc = walk.interned.get(key)
    if fc is None:
        if len(walk.interned) > 100_000:  # agencies and coordinates are finite; this only guards against surprises
            walk.interned.clear()
        fc = walk.interned[key] = FieldClass((override or info.label).value, agency, info.coordinate)
    return fc


def collect(
    walk: Walk, child_type: type, selection: tuple[Sel, ...], profile: Profile, presence: Mapping[str, Label]
) -> None:
    """Pass 1: the distinct field classes this answer would contain."""
    _walk_child(walk, child_type, selection, profile, presence, build=False, path=())


def apply(
    walk: Walk,
    child_type: type,
    selection: tuple[Sel, ...],
    profile: Profile,
    presence: Mapping[str, Label],
    path: tuple[str | int, ...],
    extra: Mapping[str, Any] | None = None,
) -> Completed:
    """Pass 2: the answer itself, with decisions applied and withheld fields recorded.

    The result is already what GraphQL would complete: keyed by response key (aliases, ``__typename``),
    leaves serialised by their own scalar or enum, a null in a non-null field moved up to the nearest
    field that may be null. The executor (:class:`gateway.pipeline.respond.GatewayExecutor`) hands it on as it
    is, rather than walking the same ~100 fields again. ``extra`` adds gateway-computed values (a
    search's score) as fields of the object, decided like any other.
    """
    try:
        data = _walk_child(walk, child_type, selection, profile, presence, build=True, path=path, extra=extra)
    except _Null:
        data = None
    return Completed(data)


class _Null(Exception):
    """A non-null field came out null; GraphQL nulls the nearest enclosing field that may be null."""


def _absent(info: FieldInfo) -> Any:
    """A withheld or failed field: its default (an empty list, say), else null, which may move up."""
    if info.withheld is not None:
        return info.serialize(info.withheld) if info.serialize is not None and not info.is_list else info.withheld
    if info.non_null:
        raise _Null
    return None


def _walk_child(
    walk: Walk,
    child_type: type,
    selection: tuple[Sel, ...],
    profile: Profile,
    presence: Mapping[str, Label],
    *,
    build: bool,
    path: tuple[str | int, ...],
    extra: Mapping[str, Any] | None = None,
) -> Any:
    fields = walk.table[child_type]
    nodes = child_nodes(profile)
    for name, value in (extra or {}).items():
        nodes[name] = (value, "gateway", None)
    out: dict[str, Any] = {}
    for sel in selection:
        info = fields.get(sel.name)
        if info is None:
            if build and sel.name == "__typename":
                out[sel.key] = type_name(child_type)
            continue
        here = (*path, sel.key)
        value, agency, override = nodes.get(sel.name, (None, "gateway", None))
        if sel.name == "involvements":
            out[sel.key] = _involvements(walk, info, sel, value, build, here)
            if sel.name in profile.errors and build:
                walk.agency_errors.append((here, profile.errors[sel.name]))
            continue
        if sel.name == "conflicts":
            out[sel.key] = _conflicts(walk, info, sel, value, presence, build, here)
            continue
        error = profile.errors.get(sel.name)
        if error is not None and sel.name not in profile.fields:
            agency = error.agency
        fc = _class(walk, info, agency, override)
        if not build:
            walk.classes.add(fc)
            if value is not None:
                _descend(walk, info, sel, value, agency, override, build=False, path=here)
            continue
        decision = _decision(walk, fc)
        if decision.action == "deny":
            walk.withheld.append(Withheld(here, decision.reason))
            out[sel.key] = _absent(info)
            continue
        if error is not None and sel.name not in profile.fields:
            walk.agency_errors.append((here, error))
            out[sel.key] = _absent(info)
            continue
        out[sel.key] = _complete(walk, info, sel, value, agency, override, here, decision)
    return out if build else None


def _decision(walk: Walk, fc: FieldClass) -> Decision:
    assert walk.decisions is not None
    return walk.decisions.get(fc, DENY_UNAVAILABLE)


def _complete(
    walk: Walk,
    info: FieldInfo,
    sel: Sel,
    value: Any,
    agency: str,
    override: Label | None,
    path: tuple[str | int, ...],
    decision: Decision | None,
) -> Any:
    """One allowed field's completed value; a null from below stops here unless this field is non-null."""
    try:
        out = _descend(walk, info, sel, value, agency, override, build=True, path=path, decision=decision)
    except _Null:
        out = None
    if out is None and info.non_null:
        raise _Null
    return out


def _misfit(walk: Walk, what: str, agency: str, path: tuple[str | int, ...]) -> None:
    """An agency's value does not fit the schema's ``what`` (a field or a type): reported where it would
    have been, as null."""
    walk.agency_errors.append((path, AgencyBadResponse(agency, f"{agency} sent a value that does not fit {what}")))


def _leaf(walk: Walk, info: FieldInfo, value: Any, agency: str, path: tuple[str | int, ...]) -> Any:
    assert info.serialize is not None
    serialize = info.serialize
    try:
        if not info.is_list:
            return serialize(value)
        if not isinstance(value, list):
            raise TypeError("not a list")
        items = _items(info, (None if v is None else serialize(v) for v in value))
    except Exception:  # any serialiser's refusal (GraphQLError, TypeError, AttributeError...): bad data
        items = None
    if items is None:  # refused, or a null item in a list of non-null ones (which nulls the list)
        _misfit(walk, info.coordinate, agency, path)
    return items


def _descend(
    walk: Walk,
    info: FieldInfo,
    sel: Sel,
    value: Any,
    agency: str,
    override: Label | None,
    *,
    build: bool,
    path: tuple[str | int, ...],
    decision: Decision | None = None,
) -> Any:
    if value is None:
        return None
    if info.target is None:
        if build:
            walk.returned.append(_dotted(path))
            if decision is not None and decision.action == "mask":
                value = MASKS[decision.mask or ""](value)
            return _leaf(walk, info, value, agency, path)
        return value
    if not build:
        if info.is_list:
            for i, item in enumerate(value):
                _object(walk, info.target, sel, item, agency, override, build=False, path=(*path, i))
        else:
            _object(walk, info.target, sel, value, agency, override, build=False, path=path)
        return None
    if info.is_list:
        if not isinstance(value, list):
            _misfit(walk, info.coordinate, agency, path)
            return None
        return _items(
            info, (_object_or_null(walk, info, sel, item, agency, override, (*path, i)) for i, item in enumerate(value))
        )
    return _object(walk, info.target, sel, value, agency, override, build=True, path=path)


def _object_or_null(
    walk: Walk,
    info: FieldInfo,
    sel: Sel,
    item: Any,
    agency: str,
    override: Label | None,
    path: tuple[str | int, ...],
) -> Any:
    assert info.target is not None
    try:
        return _object(walk, info.target, sel, item, agency, override, build=True, path=path)
    except _Null:
        return None


def _items(info: FieldInfo, items: Any) -> list[Any] | None:
    """A list's completed items; a null item in a list of non-null items nulls the list."""
    out = list(items)
    if info.item_non_null and None in out:
        return None
    return out


def _object(
    walk: Walk,
    cls: type,
    sel: Sel,
    value: Any,
    agency: str,
    override: Label | None,
    *,
    build: bool,
    path: tuple[str | int, ...],
) -> Any:
    if not isinstance(value, dict):  # (an ABC check costs several times more, on every object)
        if build:
            _misfit(walk, type_name(cls), agency, path)
            raise _Null
        return None
    children = _children(walk, cls, sel, agency, override)
    if not build:
        for child, info, fc in children:
            if fc is not None:
                walk.classes.add(fc)
                inner = value.get(child.name)
                if inner is not None and info.target is not None:
                    _descend(walk, info, child, inner, agency, override, build=False, path=path)
        return None
    out: dict[str, Any] = {}
    for child, info, fc in children:
        if fc is None:
            if child.name == "__typename":
                out[child.key] = type_name(cls)
            continue
        here = (*path, child.key)
        inner = value.get(child.name)
        decision = _decision(walk, fc)
        if decision.action == "deny":
            walk.withheld.append(Withheld(here, decision.reason))
            out[child.key] = _absent(info)
            continue
        if decision.action == "allow" and info.target is None and inner is not None:  # most fields: a plain leaf
            walk.returned.append(_dotted(here))
            leaf = _leaf(walk, info, inner, agency, here)
            if leaf is None and info.non_null:
                raise _Null
            out[child.key] = leaf
            continue
        out[child.key] = _complete(walk, info, child, inner, agency, override, here, decision)
    return out if build else None


def _children(
    walk: Walk, cls: type, sel: Sel, agency: str, override: Label | None
) -> tuple[tuple[Sel, FieldInfo, FieldClass | None], ...]:
    """Each selected child of ``sel`` on ``cls`` with its field and class (None: ``__typename``),
    worked out once per selection, type, agency and label rather than for every object of every request."""
    key = (cls, agency, override)
    children = sel.plans.get(key)
    if children is None:
        fields = walk.table[cls]
        children = sel.plans[key] = tuple(
            (child, info, _class(walk, info, agency, override) if info is not None else None)
            for child in sel.children
            if (info := fields.get(child.name)) is not None or child.name == "__typename"
        )
    return children


def _involvements(walk: Walk, info: FieldInfo, sel: Sel, entries: Any, build: bool, path: tuple[str | int, ...]) -> Any:
    """Each involvement is classed by its own agency and label (a CAMHS involvement is sensitive)."""
    assert info.target is not None
    out = []
    for agency, label, entry in entries:
        fc = _class(walk, info, agency, label)
        if not build:
            walk.classes.add(fc)
            _object(walk, info.target, sel, entry, agency, label, build=False, path=path)
            continue
        if _decision(walk, fc).action == "deny":
            continue  # withheld entries are left out; one error below says some were
        out.append((agency, label, entry))
    if not build:
        return None
    hidden = {
        _decision(walk, _class(walk, info, a, lb)).reason
        for a, lb, _ in entries
        if _decision(walk, _class(walk, info, a, lb)).action == "deny"
    }
    for reason in sorted(hidden):
        walk.withheld.append(Withheld(path, reason))
    return _items(
        info,
        (
            _object_or_null(walk, info, sel, entry, agency, label, (*path, i))
            for i, (agency, label, entry) in enumerate(out)
        ),
    )


def _conflicts(
    walk: Walk,
    info: FieldInfo,
    sel: Sel,
    conflicts: Any,
    presence: Mapping[str, Label],
    build: bool,
    path: tuple[str | int, ...],
) -> Any:
    """A conflicting value is as sensitive as the fact that its agency holds a record at all."""
    assert info.target is not None
    conflict_fields = walk.table[info.target]
    values_info = conflict_fields["values"]
    assert values_info.target is not None
    out = []
    for name, values in conflicts:
        kept = []
        for agency, text in values:
            label = presence.get(agency, Label.RESTRICTED)
            fc = FieldClass(label.value, agency, values_info.coordinate)
            if not build:
                walk.classes.add(fc)
            elif _decision(walk, fc).action != "deny":
                kept.append({"agency": agency, "value": text})
        if build and len(kept) > 1:
            out.append({"field": name, "values": kept})
    if not build:
        for c in conflict_fields.values():
            walk.classes.add(FieldClass(c.label.value, "gateway", c.coordinate))
        return None
    allowed = {  # the conflict's own fields are the gateway's, decided once for every item
        child.key: _decision(walk, FieldClass(cinfo.label.value, "gateway", cinfo.coordinate)).action != "deny"
        for child in sel.children
        if (cinfo := conflict_fields.get(child.name)) is not None
    }

    def one(i: int, item: dict[str, Any]) -> Any:
        here = (*path, i)
        completed: dict[str, Any] = {}
        for child in sel.children:
            if child.name == "__typename":
                completed[child.key] = type_name(info.target)
                continue
            cinfo = conflict_fields.get(child.name)
            if cinfo is None:
                continue
            if not allowed[child.key]:
                walk.withheld.append(Withheld((*here, child.key), "CONFLICT_WITHHELD"))
                completed[child.key] = _absent(cinfo)
                continue
            walk.returned.append(_dotted((*here, child.key)))
            if child.name == "field":
                completed[child.key] = item["field"]
            else:
                completed[child.key] = [  # each alias of `values` with its own sub-selection
                    {
                        c.key: (type_name(values_info.target) if c.name == "__typename" else v.get(c.name))
                        for c in child.children
                    }
                    for v in item["values"]
                ]
        return completed

    completed_items = []
    for i, item in enumerate(out):
        try:
            completed_items.append(one(i, item))
        except _Null:
            completed_items.append(None)
    return _items(info, completed_items)


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(map(str, path))
