"""Completing the answer: the policy's decisions applied while the answer is built, already as GraphQL would
complete it.

The result is keyed by response key (aliases, ``__typename``), each leaf serialised by its own scalar or
enum, a null in a non-null field moved up to the nearest field that may be null. The executor
(:class:`gateway.graphql.executor.GatewayExecutor`) hands it on as it is rather than walking the same
~100 fields again. A denied field is ``null`` (or its default) with a ``FORBIDDEN_FIELD`` marker at its
path; a masked one is reduced; an agency's failure, or a value that does not fit the schema, is reported
where its data would have been.

Markers are decided by class. A denied field is marked whether or not it had a value; in a
:class:`~gateway.pipeline.policy.classes.Tagged` list every (agency, label) the requester may not see is
marked once, whether or not such an item exists, and the items of those classes are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import AgencyBadResponse
from gateway.graphql.labels import FieldInfo, type_name
from gateway.graphql.selection import Sel
from gateway.pipeline.policy.classes import GATEWAY, Node, Tagged, Walk, children_of, field_class, node_class
from gateway.pipeline.policy.masks import MASKS
from gateway.types import DENY_UNAVAILABLE, Completed, Decision, FieldClass, Label, Withheld


class _Null(Exception):
    """A non-null field came out null; GraphQL nulls the nearest enclosing field that may be null."""


def complete(
    walk: Walk, root: type, selection: Sequence[Sel], nodes: Mapping[str, Node], path: tuple[str | int, ...]
) -> Completed:
    """The answer to ``selection`` over ``nodes``, with ``walk.decisions`` applied; withheld fields, agency
    failures and returned paths are recorded on ``walk``."""
    try:
        data = _root(walk, root, selection, nodes, path)
    except _Null:
        data = None
    return Completed(data)


def _decision(walk: Walk, fc: FieldClass) -> Decision:
    assert walk.decisions is not None
    return walk.decisions.get(fc, DENY_UNAVAILABLE)


def _absent(info: FieldInfo) -> Any:
    """A withheld or failed field: its default (an empty list, say), else null, which may move up."""
    if info.withheld is not None:
        return info.serialize(info.withheld) if info.serialize is not None and not info.is_list else info.withheld
    if info.non_null:
        raise _Null
    return None


def _root(
    walk: Walk, root: type, selection: Sequence[Sel], nodes: Mapping[str, Node], path: tuple[str | int, ...]
) -> dict[str, Any]:
    fields = walk.table[root]
    out: dict[str, Any] = {}
    for sel in selection:
        info = fields.get(sel.name)
        if info is None:
            if sel.name == "__typename":
                out[sel.key] = type_name(root)
            continue
        here = (*path, sel.key)
        node = nodes.get(sel.name) or Node(None, GATEWAY)
        decision = _decision(walk, node_class(walk, info, node))
        if decision.action == "deny":
            walk.withheld.append(Withheld(here, decision.reason))
            out[sel.key] = _absent(info)
            continue
        if node.error is not None:
            walk.agency_errors.append((here, node.error))
            if node.value is None or (isinstance(node.value, Tagged) and not node.value.items):
                out[sel.key] = _absent(info)
                continue
        if isinstance(node.value, Tagged):
            out[sel.key] = _tagged(walk, info, sel, node.value, here)
            continue
        out[sel.key] = _complete(walk, info, sel, node.value, node.agency, node.label, here, decision)
    return out


def _tagged(walk: Walk, info: FieldInfo, sel: Sel, tagged: Tagged, path: tuple[str | int, ...]) -> Any:
    """A list of items from several agencies: each class the requester may not see is marked once, by class,
    and its items are left out; the rest are completed with their own agency and label."""
    hidden: set[tuple[str, Label]] = set()
    for agency, label in sorted(tagged.possible, key=lambda p: (p[0], p[1].value)):
        decision = _decision(walk, field_class(walk, info, agency, label))
        if decision.action == "deny":
            hidden.add((agency, label))
            walk.withheld.append(Withheld(path, decision.reason, agency=agency))
    if info.target is None:
        return _absent(info)
    target = info.target
    shown = [(a, lb, item) for a, lb, item in tagged.items if (a, lb) not in hidden]
    completed: list[dict[str, Any] | None] = []
    for i, (agency, label, item) in enumerate(shown):
        try:
            completed.append(_object(walk, target, sel, item, agency, label, (*path, i)))
        except _Null:
            completed.append(None)
    return _items(info, completed)


def _complete(
    walk: Walk,
    info: FieldInfo,
    sel: Sel,
    value: Any,
    agency: str,
    label: Label | None,
    path: tuple[str | int, ...],
    decision: Decision,
) -> Any:
    """One allowed field's completed value; a null from below stops here unless this field is non-null."""
    try:
        out = _descend(walk, info, sel, value, agency, label, path, decision)
    except _Null:
        out = None
    if out is None and info.non_null:
        raise _Null
    return out


def _misfit(walk: Walk, what: str, agency: str, path: tuple[str | int, ...]) -> None:
    """An agency's value does not fit the schema's ``what`` (a field or a type): reported where it would
    have been, as null."""
    walk.agency_errors.append((path, AgencyBadResponse(agency, f"{agency} sent a value that does not fit {what}")))


def _returned(walk: Walk, path: tuple[str | int, ...], fc_label: str, agency: str) -> None:
    walk.returned.append(".".join(map(str, path)))
    walk.returned_classes.add((fc_label, agency))


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
    label: Label | None,
    path: tuple[str | int, ...],
    decision: Decision,
) -> Any:
    if value is None:
        return None
    if info.target is None:
        _returned(walk, path, (label or info.label).value, agency)
        if decision.action == "mask":
            value = MASKS[decision.mask or ""](value)
        return _leaf(walk, info, value, agency, path)
    if info.is_list:
        if not isinstance(value, list):
            _misfit(walk, info.coordinate, agency, path)
            return None
        target = info.target
        completed: list[dict[str, Any] | None] = []
        for i, item in enumerate(value):
            try:
                completed.append(_object(walk, target, sel, item, agency, label, (*path, i)))
            except _Null:
                completed.append(None)
        return _items(info, completed)
    return _object(walk, info.target, sel, value, agency, label, path)


def _items(info: FieldInfo, items: Any) -> list[Any] | None:
    """A list's completed items; a null item in a list of non-null items nulls the list."""
    out = list(items)
    if info.item_non_null and None in out:
        return None
    return out


def _object(
    walk: Walk, cls: type, sel: Sel, value: Any, agency: str, label: Label | None, path: tuple[str | int, ...]
) -> dict[str, Any]:
    if not isinstance(value, dict):  # (an ABC check costs several times more, on every object)
        _misfit(walk, type_name(cls), agency, path)
        raise _Null
    out: dict[str, Any] = {}
    for child, info, fc in children_of(walk, cls, sel, agency, label):
        if fc is None or info is None:
            out[child.key] = type_name(cls)  # __typename
            continue
        here = (*path, child.key)
        inner = value.get(child.name)
        decision = _decision(walk, fc)
        if decision.action == "deny":
            walk.withheld.append(Withheld(here, decision.reason))
            out[child.key] = _absent(info)
            continue
        if decision.action == "allow" and info.target is None and inner is not None:  # most fields: a plain leaf
            _returned(walk, here, fc.label, agency)
            leaf = _leaf(walk, info, inner, agency, here)
            if leaf is None and info.non_null:
                raise _Null
            out[child.key] = leaf
            continue
        out[child.key] = _complete(walk, info, child, inner, agency, label, here, decision)
    return out
