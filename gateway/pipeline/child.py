"""``child(id, purpose, breakGlass)``: the one place the stages are sequenced for one child.

    answer = await pipeline.run(ChildRequest(subject, None, "9434765919", "safeguarding", None, selection,
                                             ("child",), request_id))

:meth:`ChildPipeline.run` reads as the pipeline: authenticate → parse & limit → quota → pre-flight → plan →
fan out → link → policy → audit → notify → respond. The resolver, ``wardgate policy explain``
(:meth:`ChildPipeline.facts`) and the benchmarks all come through here; none of them sequences stages of
its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.agencies.connectors import Connector
from gateway.config import Settings
from gateway.errors import AgencyError, BadRequest, BreakGlassRefused, ChildNotFound, PurposeRequired, RateLimited
from gateway.graphql.labels import FieldTable
from gateway.graphql.schema import Child
from gateway.graphql.selection import Sel
from gateway.identifiers import nhs_number_is_valid
from gateway.pipeline.audit import AuditSink, audit_event
from gateway.pipeline.authenticate import require_subject
from gateway.pipeline.fanout import FanOut
from gateway.pipeline.link import ChildFacts, Linker, Profile
from gateway.pipeline.notify import Notifier
from gateway.pipeline.plan import Plan, plan_child
from gateway.pipeline.policy.classes import DERIVED, GATEWAY, Node, Tagged, Walk, collect
from gateway.pipeline.policy.complete import complete
from gateway.pipeline.policy.decide import ChildView, Outcome, Policy
from gateway.pipeline.policy.derived import (
    ObservedLabels,
    conflicts,
    observation_classes,
    presence_class,
    seen_grade,
    sources,
    visible_agencies,
    warnings,
)
from gateway.pipeline.quota import Quota
from gateway.pipeline.records import AgencyAnswer, CallContext
from gateway.types import DENY_UNAVAILABLE, Completed, FieldClass, Label, Purpose, Subject, Withheld

MIN_JUSTIFICATION = 20
GATEWAY_FIELDS = ("matchGrade", "warnings", "sources", "conflicts")
ORDINARY = ChildView()  # a child with no fact that restricts anything: the pre-flight's child
"""The Child fields the gateway works out itself, per requester, after the decision."""

log = logging.getLogger("gateway.child")


@dataclass(frozen=True, slots=True)
class ChildRequest:
    """One ``child`` field as asked: who (as authenticated), which child, why, and what was selected."""

    subject: Subject | None
    auth_error: str | None
    child_id: str
    purpose: str | None
    break_glass: str | None
    selection: tuple[Sel, ...]
    path: tuple[str | int, ...]
    request_id: str


@dataclass(slots=True)
class ChildAnswer:
    """What the request gets back: the completed answer, and the errors to report beside it."""

    data: Completed | None
    withheld: list[Withheld] = field(default_factory=list)
    agency_errors: list[tuple[tuple[str | int, ...], AgencyError]] = field(default_factory=list)
    agencies_called: frozenset[str] = frozenset()
    agencies_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class _Ask:
    """A request whose arguments passed parse & limit."""

    subject: Subject
    nhs_number: str
    purpose: str
    justification: str
    selection: tuple[Sel, ...]
    path: tuple[str | int, ...]
    request_id: str


def child_nodes(profile: Profile, derived: Mapping[str, Any]) -> dict[str, Node]:
    """The child's fields as policy walks them: each with the agency it came from (or would have), and the
    gateway's own fields (``derived``: grade, warnings, sources, conflicts)."""
    nodes = {name: Node(value, GATEWAY) for name, value in derived.items()}
    nodes["id"] = Node(profile.nhs_number, profile.spine)
    tagged = Tagged(profile.involvements, profile.involvement_classes)
    nodes["involvements"] = Node(tagged, GATEWAY, None, profile.errors.get("involvements"))
    for name, agency in profile.origin.items():
        value = profile.fields.get(name)
        nodes[name] = Node(value, agency, None, profile.errors.get(name) if value is None else None)
    return nodes


class ChildPipeline:
    """The stages for one child, in order. Built once at start-up with the services the stages use."""

    def __init__(
        self,
        settings: Settings,
        connectors: Mapping[str, Connector],
        fanout: FanOut,
        linker: Linker,
        policy: Policy,
        table: FieldTable,
        audit: AuditSink,
        notifier: Notifier,
        quota: Quota,
    ) -> None:
        self.settings = settings
        self.connectors = connectors
        self.fanout = fanout
        self.linker = linker
        self.policy = policy
        self.table = table
        self.audit = audit
        self.notifier = notifier
        self.quota = quota
        self.spine = settings.spine
        self.gate = FieldClass(Label.IDENTITY.value, settings.spine, "Child.id")
        self.labels = ObservedLabels(table)
        self.presence = {presence_class(a, lb) for a, lb in linker.presence.items()}
        # Called for every child request whatever is selected: the only records the grade is taken from.
        self.core = frozenset({settings.spine, *linker.fact_agencies})

    async def run(self, request: ChildRequest) -> ChildAnswer:
        subject = require_subject(request.subject, request.auth_error)  # authenticate
        ask = await self.parse(request, subject)  # parse & limit: the document was, by the GraphQL layer
        refused = await self.preflight(ask)
        if refused is not None:  # may not ask about any child for this purpose: no agency is called
            return refused
        plan = self.plan(ask)
        answers, agencies_ms = await self.fan_out(ask, plan)
        profile = await self.link(ask, plan, answers)
        walk, outcome, data = await self.apply_policy(ask, plan, profile)
        await self.record(ask, plan, walk, outcome)  # audit, then notify and alert
        return ChildAnswer(data, walk.withheld, walk.agency_errors, plan.agencies, agencies_ms)  # respond

    async def parse(self, request: ChildRequest, subject: Subject) -> _Ask:
        """The arguments (a valid NHS number, a declared purpose, a real justification for break-glass) and
        the practitioner's quota of child look-ups (each ``child`` field counts, aliases too)."""
        nhs = request.child_id.replace(" ", "")
        if not nhs_number_is_valid(nhs):
            raise BadRequest("id must be a valid NHS number (10 digits, modulus-11 check digit)")
        if request.purpose is None:  # optional in the schema only so that leaving it out gets this clear code
            raise PurposeRequired("child queries must declare a purpose (safeguarding, routine-care, ...)")
        purpose = Purpose(request.purpose).value
        justification = (request.break_glass or "").strip()
        ask = _Ask(subject, nhs, purpose, justification, request.selection, request.path, request.request_id)
        try:
            await self.quota.check(subject.practitioner_id)
        except RateLimited:
            await self._refusal(ask, "child.rate-limited")
            raise
        if request.break_glass is not None and len(justification) < MIN_JUSTIFICATION:
            await self._refusal(ask, "break-glass.refused", breakGlass=justification, why="justification too short")
            raise BreakGlassRefused(f"break-glass needs a justification of at least {MIN_JUSTIFICATION} characters")
        return ask

    async def preflight(self, ask: _Ask) -> ChildAnswer | None:
        """May this requester ask about any child, for this purpose? Decided before anything is known about
        the child (as if for the most ordinary child: no shield, no refuge, facts complete), so the answer is
        the same whether or not the child exists; ``None`` if they may."""
        outcome = await self.policy.decide(ask.subject, ask.purpose, bool(ask.justification), ORDINARY, {self.gate})
        gate = outcome.decisions.get(self.gate, DENY_UNAVAILABLE)
        if gate.action != "deny":
            return None
        await self._refusal(
            ask,
            "child.refused",
            reason=gate.reason,
            breakGlass=ask.justification or None,
            policyRevision=outcome.revision,
        )
        return ChildAnswer(None, [Withheld(ask.path, gate.reason)])

    def plan(self, ask: _Ask) -> Plan:
        return plan_child(ask.selection, self.connectors, ask.subject, spine=self.spine)

    async def fan_out(self, ask: _Ask, plan: Plan) -> tuple[dict[str, AgencyAnswer], float]:
        """Every planned agency's answer, and the fan-out's wall time in milliseconds."""
        deadline = asyncio.get_running_loop().time() + self.settings.request_deadline_ms / 1000
        call = CallContext(ask.subject.practitioner_id, ask.purpose, ask.request_id)
        started = time.perf_counter()  # not loop.time(): uvloop's clock is in whole, cached milliseconds
        answers = await self.fanout.run(plan.agencies, ask.nhs_number, call, deadline)
        return answers, (time.perf_counter() - started) * 1000

    async def link(self, ask: _Ask, plan: Plan, answers: Mapping[str, AgencyAnswer]) -> Profile:
        spine = answers.get(self.spine)
        if spine is not None and spine.error is None and not spine.records:
            # A look-up of a child who does not exist is still a look-up: it is on the record.
            await self._refusal(ask, "child.read", outcome="not-found", agenciesCalled=sorted(plan.agencies))
            raise ChildNotFound("no child with that NHS number")
        return self.linker.link(ask.nhs_number, answers)

    async def apply_policy(self, ask: _Ask, plan: Plan, profile: Profile) -> tuple[Walk, Outcome, Completed | None]:
        """One decision over the answer's field classes, then the answer built with it applied.

        The first evaluation tells which agencies' records the requester may know of; the match grade they
        see comes from those alone (:func:`seen_grade`), and only if it is not certain, or some visible
        record is weak, is the decision taken again with it.
        """
        walk = Walk(self.table, interned=self.policy.interned)
        collect(walk, Child, plan.selection, child_nodes(profile, dict.fromkeys(GATEWAY_FIELDS, DERIVED)))
        walk.classes |= self.presence
        walk.classes |= observation_classes(profile.observations, self.labels)
        walk.classes.add(self.gate)
        subject, purpose, override = ask.subject, ask.purpose, bool(ask.justification)
        outcome = await self.policy.decide(
            subject, purpose, override, ChildView.of(profile.facts, subject), walk.classes
        )
        visible = visible_agencies(outcome.decisions, self.linker.presence)
        grade, weak = seen_grade(profile.grades, visible, self.core)
        if grade != "certain" or weak:
            view = ChildView.of(profile.facts, subject, match_grade=grade, weak_agencies=weak)
            outcome = await self.policy.decide(subject, purpose, override, view, walk.classes)
        walk.decisions = outcome.decisions
        alerts = [o for o in outcome.obligations if o.get("kind") == "alert"]
        if ask.justification and not any(a.get("reason") == "BREAK_GLASS" for a in alerts):
            # The policy did not grant the override (not a child-protection role, or not for safeguarding):
            # the attempt is on the record and the request is refused rather than silently narrowed.
            await self._refusal(
                ask, "break-glass.refused", breakGlass=ask.justification, policyRevision=outcome.revision
            )
            raise BreakGlassRefused(
                "break-glass is only for child-protection roles declaring the safeguarding purpose;"
                " nothing was returned"
            )
        gate = outcome.decisions.get(self.gate, DENY_UNAVAILABLE)
        if gate.action == "deny":  # not even the child's id may be shown: nothing of them is
            walk.withheld.append(Withheld(ask.path, gate.reason))
            return walk, outcome, None
        derived = {
            "matchGrade": grade,
            "warnings": warnings(grade),
            "sources": sources(profile.sources, visible),
            "conflicts": conflicts(profile.observations, self.labels, outcome.decisions, visible),
        }
        return walk, outcome, complete(walk, Child, plan.selection, child_nodes(profile, derived), ask.path)

    async def record(self, ask: _Ask, plan: Plan, walk: Walk, outcome: Outcome) -> None:
        """Audit (paths and reasons, never values) before anything is returned; then notify and alert."""
        # An owning agency is told only when its restricted data was actually returned, not merely allowed.
        obligations = [
            o
            for o in outcome.obligations
            if o.get("kind") != "notify" or (Label.RESTRICTED.value, o.get("agency")) in walk.returned_classes
        ]
        await self.audit.write(  # raises AuditUnavailable: nothing is returned
            audit_event(
                "child.read",
                ask.request_id,
                ask.subject,
                ask.purpose,
                breakGlass=ask.justification or None,
                childId=ask.nhs_number,
                agenciesCalled=sorted(plan.agencies),
                fieldsReturned=walk.returned,
                fieldsWithheld=[
                    {
                        "path": ".".join(map(str, w.path)),
                        "reason": w.reason,
                        **({"agency": w.agency} if w.agency else {}),
                    }
                    for w in walk.withheld
                ],
                policyRevision=outcome.revision,
                obligations=obligations,
                loggedAt=time.time(),
            )
        )
        await self._notify(ask, obligations)
        for alert in (o for o in obligations if o.get("kind") == "alert"):
            # break-glass and shield overrides: their own records, for whoever watches alerts
            await self.audit.write(
                audit_event(
                    "alert",
                    ask.request_id,
                    ask.subject,
                    ask.purpose,
                    childId=ask.nhs_number,
                    reason=alert.get("reason"),
                    breakGlass=ask.justification or None,
                )
            )
            log.warning("alert raised", extra={"reason": alert.get("reason"), "requestId": ask.request_id})

    async def _refusal(self, ask: _Ask, kind: str, **fields: Any) -> None:
        """A request refused (or answered with nothing) is on the record like any other."""
        await self.audit.write(
            audit_event(kind, ask.request_id, ask.subject, ask.purpose, childId=ask.nhs_number, **fields)
        )

    async def _notify(self, ask: _Ask, obligations: list[dict[str, Any]]) -> None:
        """Queue the policy's ``notify`` obligations: owning agencies are told their restricted data was read.

        The read itself was lawful and is already on the record, so delivery happens off this request's
        path (see :mod:`gateway.pipeline.notify`); what cannot be delivered is recorded as ``notify.failed``.
        """
        targets = sorted({o["agency"] for o in obligations if o.get("kind") == "notify"})
        if not targets:
            return
        subject = ask.subject
        event = {
            "event": "restricted-read",
            "childId": ask.nhs_number,
            "readBy": {"practitioner": subject.practitioner_id, "role": subject.role, "agency": subject.agency},
            "purpose": ask.purpose,
            "requestId": ask.request_id,
            "at": dt.datetime.now(dt.UTC).isoformat(),
        }
        for agency in targets:
            if_failed = audit_event(
                "notify.failed",
                ask.request_id,
                subject,
                ask.purpose,
                childId=ask.nhs_number,
                notifiedAgency=agency,  # not `agency`: that is the reader's, as in every record
            )
            await self.notifier.submit(agency, event, if_failed)

    async def facts(self, subject: Subject, child_id: str, purpose: str, request_id: str) -> tuple[ChildFacts, Plan]:
        """What policy would know about this child, fetched live as a request would
        (``wardgate policy explain --child``): plan, fan out and link, and the read is audited."""
        ask = await self.parse(ChildRequest(subject, None, child_id, purpose, None, (), (), request_id), subject)
        plan = self.plan(ask)
        answers, _ = await self.fan_out(ask, plan)
        profile = await self.link(ask, plan, answers)
        # Facts about a real child were read: that is on the record like any other read.
        await self.audit.write(
            audit_event(
                "policy.explain",
                ask.request_id,
                subject,
                ask.purpose,
                childId=ask.nhs_number,
                agenciesCalled=sorted(plan.agencies),
                fieldsReturned=["facts.shielded", "facts.refuge", "facts.consents", "facts.involved"],
                fieldsWithheld=[],
            )
        )
        return profile.facts, plan
