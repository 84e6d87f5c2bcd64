"""Policy: one decision per child, over deduplicated field classes, applied before objects are built.

1. :func:`collect` walks the selection over the linked profile and gathers the distinct
   :class:`~gateway.types.FieldClass` es present (label, agency, schema field) — typically ~20 for a
   ~100-field profile.
2. :meth:`Policy.decide` builds a cache key from exactly the facts a decision depends on (subject
   role/agency/two-factor, purpose, break-glass, the child's shield flag, consents, whether the
   requester is involved, match grade, completeness) plus the classes and the policy revision, and
   builds the engine input *from that key*, so the cache is correct by construction.
3. :func:`apply` walks again, building the answer already completed for GraphQL: denied fields
   become ``null`` with a ``FORBIDDEN_FIELD`` error at their path, masked ones are reduced, an
   agency's failure (or a value that does not fit the schema) is reported where its data would have been.

Anything but a well-formed decision is deny (``POLICY_UNAVAILABLE``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from gateway.errors import AgencyBadResponse, ConfigError, PolicyUnavailable
from gateway.graphql.labels import FieldInfo, FieldTable, type_name
from gateway.metrics import Metrics
from gateway.pipeline.link import ChildFacts, Profile
from gateway.pipeline.plan import Sel
from gateway.pipeline.policy.engines import PolicyBundle, PolicyEngine
from gateway.types import DENY_UNAVAILABLE, Completed, Decision, FieldClass, Label, Subject, Withheld

log = logging.getLogger("gateway.policy")

ANY_FIELD = "*"  # the coordinate sent for fields the policy does not name

MASKS: dict[str, Callable[[Any], Any]] = {
    "postcode-district": lambda v: str(v).split()[0] if v else v,
    "initial": lambda v: (str(v)[:1] + ".") if v else v,
}


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(sorted((_frozen(v) for v in value), key=repr))
    return value


@dataclass(slots=True)
class Outcome:
    decisions: dict[FieldClass, Decision]
    obligations: list[dict[str, Any]]
    revision: str
    cached: bool


class Policy:
    """The policy stage: decisions with a cache, over whichever engine is configured."""

    def __init__(
        self, engine: PolicyEngine, *, root: Path, cache_size: int = 4096, metrics: Metrics | None = None
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.root = root
        self._cache: LRUCache[tuple[Any, ...], tuple[dict[FieldClass, Decision], list[dict[str, Any]]]] = LRUCache(
            maxsize=cache_size
        )
        self.last_error: str | None = None
        self._named: frozenset[str] = frozenset()
        # A few kilobytes each (a set of ~70 classes); the distinct sets in use are far fewer than this.
        self._shapes: LRUCache[frozenset[FieldClass], tuple[dict[FieldClass, FieldClass], tuple[FieldClass, ...]]] = (
            LRUCache(maxsize=512)
        )
        self.interned: dict[tuple[str, str, Label | None], FieldClass] = {}  # for Walk.interned

    async def load(self) -> str:
        """Load (or reload) the policy files. An invalid revision leaves the previous one in force."""
        try:
            bundle = PolicyBundle.load(self.root)
            if bundle.revision == self.engine.revision:
                return bundle.revision
            await self.engine.load(bundle)
        except ConfigError as exc:
            self.last_error = str(exc)
            log.error("policy not loaded; previous revision stays in force", extra={"reason": str(exc)})
            raise
        self._cache.clear()
        self._shapes.clear()
        self._named = bundle.named_fields
        self.last_error = None
        log.info("policy loaded", extra={"revision": bundle.revision})
        return bundle.revision

    async def load_until_loaded(self, every_s: float = 2.0) -> None:
        """For a sidecar that is not up yet: keep trying; until then every child field is denied."""
        while True:
            try:
                await self.load()
                return
            except ConfigError:
                await asyncio.sleep(every_s)

    async def watch(self) -> None:
        """Reload when a policy file changes, until cancelled."""
        from watchfiles import awatch

        async for _changes in awatch(self.root, debounce=200, step=50):
            try:
                await self.load()
            except ConfigError:
                pass

    async def decide(
        self,
        subject: Subject,
        purpose: str,
        break_glass: bool,
        facts: ChildFacts,
        classes: set[FieldClass],
    ) -> Outcome:
        outcome = await self._decide(subject, purpose, break_glass, facts, classes)
        if self.metrics is not None:
            self.metrics.decisions(outcome.decisions.values(), cached=outcome.cached)
        return outcome

    async def _decide(
        self,
        subject: Subject,
        purpose: str,
        break_glass: bool,
        facts: ChildFacts,
        classes: set[FieldClass],
    ) -> Outcome:
        revision = self.engine.revision
        by_class, ordered = self._shape(classes)
        child_key = (
            facts.shielded,
            _frozen(facts.consents),
            subject.practitioner_id in facts.involved,
            facts.match_grade,
            facts.complete,
        )
        key = (subject.role, subject.agency, subject.mfa, purpose, break_glass, child_key, ordered, revision)
        hit = self._cache.get(key)
        if hit is not None:
            return Outcome({c: hit[0][n] for c, n in by_class.items()}, hit[1], revision, True)
        policy_input = {
            "subject": {"role": key[0], "agency": key[1], "mfa": key[2]},
            "purpose": key[3],
            "break_glass": key[4],
            "child": {
                "shielded": child_key[0],
                "consents": facts.consents,
                "requester_involved": child_key[2],
                "match_grade": child_key[3],
                "facts_complete": child_key[4],
            },
            "classes": {
                str(i): {"label": c.label, "agency": c.agency, "field": c.coordinate} for i, c in enumerate(ordered)
            },
        }
        try:
            raw = await self.engine.evaluate(policy_input)
        except PolicyUnavailable:
            log.warning("policy engine unavailable; denying child fields")
            return Outcome({c: DENY_UNAVAILABLE for c in classes}, [], revision, False)
        decisions, obligations, well_formed = _parse(raw, ordered)
        outcome = Outcome({c: decisions[n] for c, n in by_class.items()}, obligations, revision, False)
        if not well_formed:  # denied now; not remembered, so a repaired engine is asked again
            log.warning("policy answer not well formed; denying the classes it did not decide")
            return outcome
        self._cache[key] = (decisions, obligations)
        return outcome

    def _shape(self, classes: set[FieldClass]) -> tuple[dict[FieldClass, FieldClass], tuple[FieldClass, ...]]:
        """Each class as the engine is asked about it, and the distinct ones in order.

        Fields the policy does not name are decided by label and agency alone: one class for all of them.
        The same few sets of classes come back request after request, so the answer is remembered (it
        depends only on the set and on which fields the loaded policy names; a reload forgets it).
        """
        frozen = frozenset(classes)
        shape = self._shapes.get(frozen)
        if shape is None:
            named = self._named
            by_class = {c: c if c.coordinate in named else FieldClass(c.label, c.agency, ANY_FIELD) for c in frozen}
            ordered = tuple(sorted(set(by_class.values()), key=lambda c: (c.label, c.agency, c.coordinate)))
            shape = self._shapes[frozen] = (by_class, ordered)
        return shape


def _parse(raw: Any, ordered: tuple[FieldClass, ...]) -> tuple[dict[FieldClass, Decision], list[dict[str, Any]], bool]:
    """Only an explicit, well-formed decision allows anything; every other shape is deny.

    Returns the decisions, the obligations, and whether every class had a well-formed answer.
    """
    decisions = {c: DENY_UNAVAILABLE for c in ordered}
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), dict):
        return decisions, [], False
    fields = raw["fields"]
    well_formed = True
    for i, c in enumerate(ordered):
        d = fields.get(str(i))
        parsed = _one(d)
        if parsed is None:
            well_formed = False
        else:
            decisions[c] = parsed
    obligations = raw.get("obligations")
    if not isinstance(obligations, list) or not all(_obligation_ok(o) for o in obligations):
        # an obligation we cannot honour (say, an alert) must not be dropped silently: deny instead
        return {c: DENY_UNAVAILABLE for c in ordered}, [], False
    return decisions, obligations, well_formed


def _one(d: Any) -> Decision | None:
    if not isinstance(d, dict) or not isinstance(d.get("reason"), str) or not d["reason"]:
        return None
    action = d.get("action")
    if action == "allow":
        return Decision("allow", d["reason"])
    if action == "deny":
        return Decision("deny", d["reason"])
    if action == "mask" and d.get("mask") in MASKS:
        return Decision("mask", d["reason"], d["mask"])
    return None


OBLIGATION_KINDS = frozenset({"alert", "notify"})


def _obligation_ok(o: Any) -> bool:
    return (
        isinstance(o, dict)
        and o.get("kind") in OBLIGATION_KINDS
        and isinstance(o.get("reason"), str)
        and (o["kind"] != "notify" or isinstance(o.get("agency"), str))
    )


# --- walking the profile ---------------------------------------------------------------------------


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
        "id": (profile.nhs_number, "health", None),
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
        out.setdefault(name, (value, "health", None))
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
    return children  # type: ignore[no-any-return]


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
