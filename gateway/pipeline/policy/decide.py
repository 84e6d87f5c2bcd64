"""Policy: one decision per child, over deduplicated field classes, applied before objects are built.

1. :func:`collect` walks the selection over the linked profile and gathers the distinct
   :class:`~gateway.types.FieldClass` es present (label, agency, schema field) — typically ~20 for a
   ~100-field profile.
2. :meth:`Policy.decide` builds a cache key from exactly the facts a decision depends on (subject
   role/agency/two-factor, purpose, break-glass, the child's shield flag, consents, whether the
   requester is involved, match grade, completeness) plus the classes and the policy revision, and
   builds the engine input *from that key*, so the cache is correct by construction.
3. :func:`gateway.pipeline.policy.complete.complete` walks again, building the answer already completed
   for GraphQL: denied fields become ``null`` with a ``FORBIDDEN_FIELD`` error at their path, masked ones
   are reduced, an agency's failure (or a value that does not fit the schema) is reported where its data
   would have been.

Anything but a well-formed decision is deny (``POLICY_UNAVAILABLE``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from watchfiles import awatch

from gateway.errors import ConfigError, PolicyUnavailable
from gateway.metrics import Metrics
from gateway.pipeline.link import ChildFacts
from gateway.pipeline.policy.engines import PolicyBundle, PolicyEngine
from gateway.pipeline.policy.masks import MASKS
from gateway.types import DENY_UNAVAILABLE, Decision, FieldClass, Label, Subject

log = logging.getLogger("gateway.policy")

ANY_FIELD = "*"  # the coordinate sent for fields the policy does not name


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(sorted((_frozen(v) for v in value), key=repr))
    return value


@dataclass(frozen=True, slots=True)
class ChildView:
    """What policy is told about the child, for one requester. Hashable: it is the cache key's child part,
    and the engine's input is built from it, so the cache is correct by construction.

    ``match_grade`` and ``weak_agencies`` come only from records this requester may know exist (see
    :mod:`gateway.pipeline.policy.derived`); ``involved`` is whether the requester, as a practitioner of
    their agency, is involved with the child.
    """

    shielded: bool | None = False
    refuge: bool | None = False
    consents: Sequence[Mapping[str, Any]] = field(default=(), compare=False, hash=False)
    involved: bool = False
    match_grade: str = "certain"
    weak_agencies: tuple[str, ...] = ()
    complete: bool = True
    consents_key: Any = field(default=None, init=False, repr=False)  # the consents, frozen, for the key

    def __post_init__(self) -> None:
        object.__setattr__(self, "consents_key", _frozen(list(self.consents)))
        object.__setattr__(self, "weak_agencies", tuple(sorted(self.weak_agencies)))

    @classmethod
    def of(
        cls,
        facts: ChildFacts,
        subject: Subject,
        *,
        match_grade: str = "certain",
        weak_agencies: Iterable[str] = (),
    ) -> ChildView:
        return cls(
            shielded=facts.shielded,
            refuge=facts.refuge,
            consents=tuple(facts.consents),
            involved=(subject.agency, subject.practitioner_id) in facts.involved,
            match_grade=match_grade,
            weak_agencies=tuple(weak_agencies),
            complete=facts.complete,
        )

    def policy_input(self) -> dict[str, Any]:
        return {
            "shielded": self.shielded,
            "refuge": self.refuge,
            "consents": [dict(c) for c in self.consents],
            "requester_involved": self.involved,
            "match_grade": self.match_grade,
            "weak_agencies": list(self.weak_agencies),
            "facts_complete": self.complete,
        }


@dataclass(slots=True)
class Outcome:
    decisions: dict[FieldClass, Decision]
    obligations: list[dict[str, Any]]
    revision: str
    cached: bool


class Policy:
    """The policy stage: decisions with a cache, over whichever engine is configured.

    A miss costs one engine evaluation (~12 ms embedded, for a full profile's classes), and the key holds the
    child's facts and the classes present, hidden ones included: the first request for a combination this
    worker has not seen is slower than the next. Two ways to take that timing difference away, not yet taken:
    cache per class rather than per set of classes (the obligations are per set, so the policy would have to
    give them per class), or warm the cache at load with every combination a deployment can produce.
    """

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
        child: ChildView | None,
        classes: set[FieldClass],
    ) -> Outcome:
        """The decision for every class, for this requester and this child (``None``: nothing is known about
        the child, so the policy's missing-facts defaults apply and anything but identity is denied)."""
        outcome = await self._decide(subject, purpose, break_glass, child, classes)
        if self.metrics is not None:
            self.metrics.decisions(outcome.decisions.values(), cached=outcome.cached)
        return outcome

    async def _decide(
        self,
        subject: Subject,
        purpose: str,
        break_glass: bool,
        child: ChildView | None,
        classes: set[FieldClass],
    ) -> Outcome:
        revision = self.engine.revision
        by_class, ordered = self._shape(classes)
        key = (subject.role, subject.agency, subject.mfa, purpose, break_glass, child, ordered, revision)
        hit = self._cache.get(key)
        if hit is not None:
            return Outcome({c: hit[0][n] for c, n in by_class.items()}, hit[1], revision, True)
        policy_input = {
            "subject": {"role": key[0], "agency": key[1], "mfa": key[2]},
            "purpose": key[3],
            "break_glass": key[4],
            "child": {} if child is None else child.policy_input(),
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
