"""``child(id, purpose, breakGlass)``: the whole pipeline for one child, stage by stage."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

import strawberry
from strawberry.types import Info

from gateway.errors import BadRequest, BreakGlassRefused, ChildNotFound, PurposeRequired
from gateway.graphql.schema import Child, PurposeEnum
from gateway.identifiers import nhs_number_is_valid
from gateway.pipeline.audit import audit_event
from gateway.pipeline.fanout import CallContext
from gateway.pipeline.plan import plan_child, selection_of
from gateway.pipeline.policy.decide import Walk, apply, collect
from gateway.types import DENY_UNAVAILABLE, Context, FieldClass, Purpose, Subject, Withheld
from resolvers.common import subject_of

MIN_JUSTIFICATION = 20

log = logging.getLogger("gateway.child")


async def resolve_child(
    info: Info[Context, None],
    id: strawberry.ID,
    purpose: PurposeEnum | None = None,  # type: ignore[valid-type]
    break_glass: str | None = None,
) -> Child | None:
    ctx = info.context
    services, state = ctx.services, ctx.state
    subject = subject_of(info)  # authenticate
    nhs = str(id).replace(" ", "")
    if not nhs_number_is_valid(nhs):
        raise BadRequest("id must be a valid NHS number (10 digits, modulus-11 check digit)")
    if purpose is None:  # optional in the schema only so that leaving it out gets this clear code
        raise PurposeRequired("child queries must declare a purpose (safeguarding, routine-care, ...)")
    justification = (break_glass or "").strip()
    if break_glass is not None and len(justification) < MIN_JUSTIFICATION:
        raise BreakGlassRefused(f"break-glass needs a justification of at least {MIN_JUSTIFICATION} characters")
    purpose_value = Purpose(purpose).value

    selection = selection_of(info)  # parse & limit already ran; plan
    plan = plan_child(selection, services.connectors, subject)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + services.settings.request_deadline_ms / 1000
    call = CallContext(subject.practitioner_id, purpose_value, state.request_id)
    fanned = time.perf_counter()  # not loop.time(): uvloop's clock is in whole, cached milliseconds
    answers = await services.fanout.run(plan.agencies, nhs, call, deadline)  # fan out
    state.agencies_ms = max(state.agencies_ms, (time.perf_counter() - fanned) * 1000)
    state.agencies_called.update(plan.agencies)
    spine = answers.get("health")
    if spine is not None and spine.error is None and not spine.records:
        raise ChildNotFound("no child with that NHS number")

    profile = services.linker.link(nhs, answers)  # resolve & link
    walk = Walk(services.table, interned=services.policy.interned)  # policy
    collect(walk, Child, plan.selection, profile, services.presence)
    walk.classes.add(FieldClass("identity", "health", "Child.id"))
    outcome = await services.policy.decide(subject, purpose_value, bool(justification), profile.facts, walk.classes)
    walk.decisions = outcome.decisions
    path = tuple(info.path.as_list())
    alerts = [o for o in outcome.obligations if o.get("kind") == "alert"]
    if justification and not any(a.get("reason") == "BREAK_GLASS" for a in alerts):
        # The policy did not grant the override (not a child-protection role, or not for safeguarding):
        # the attempt is on the record and the request is refused rather than silently narrowed.
        await services.audit.write(
            audit_event(
                "break-glass.refused",
                state.request_id,
                subject,
                purpose_value,
                childId=nhs,
                breakGlass=justification,
                policyRevision=outcome.revision,
            )
        )
        raise BreakGlassRefused(
            "break-glass is only for child-protection roles declaring the safeguarding purpose; nothing was returned"
        )
    gate = outcome.decisions.get(FieldClass("identity", "health", "Child.id"), DENY_UNAVAILABLE)
    if gate.action == "deny":  # not even the child's id may be shown: nothing of them is
        walk.withheld.append(Withheld(path, gate.reason))
        child = None
    else:
        child = apply(walk, Child, plan.selection, profile, services.presence, path)

    event = audit_event(  # audit: paths and reasons, never values
        "child.read",
        state.request_id,
        subject,
        purpose_value,
        breakGlass=justification or None,
        childId=nhs,
        agenciesCalled=sorted(plan.agencies),
        fieldsReturned=walk.returned,
        fieldsWithheld=[{"path": ".".join(map(str, w.path)), "reason": w.reason} for w in walk.withheld],
        policyRevision=outcome.revision,
        obligations=outcome.obligations,
        matchGrade=profile.facts.match_grade,
        loggedAt=time.time(),
    )
    await services.audit.write(event)  # raises AuditUnavailable: nothing is returned
    await _notify(info.context, subject, purpose_value, nhs, outcome.obligations)
    for alert in alerts:  # break-glass and shield overrides: their own records, for whoever watches alerts
        await services.audit.write(
            audit_event(
                "alert",
                state.request_id,
                subject,
                purpose_value,
                childId=nhs,
                reason=alert.get("reason"),
                breakGlass=justification or None,
            )
        )
        log.warning("alert raised", extra={"reason": alert.get("reason"), "requestId": state.request_id})
    state.withheld.extend(walk.withheld)  # respond
    for err_path, err in walk.agency_errors:
        state.extra_errors.append((err_path, err.message, dict(err.extensions)))
    return child  # Completed: the executor passes it through as it is


async def _notify(
    ctx: Context, subject: Subject, purpose: str, child_id: str, obligations: list[dict[str, Any]]
) -> None:
    """Queue the policy's ``notify`` obligations: owning agencies are told their restricted data was read.

    The read itself was lawful and is already on the record, so delivery happens off this request's
    path (see :mod:`gateway.pipeline.notify`); what cannot be delivered is recorded as ``notify.failed``.
    """
    services, state = ctx.services, ctx.state
    targets = sorted({o["agency"] for o in obligations if o.get("kind") == "notify"})
    if not targets:
        return
    event = {
        "event": "restricted-read",
        "childId": child_id,
        "readBy": {"practitioner": subject.practitioner_id, "role": subject.role, "agency": subject.agency},
        "purpose": purpose,
        "requestId": state.request_id,
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }
    for agency in targets:
        if_failed = audit_event(
            "notify.failed",
            state.request_id,
            subject,
            purpose,
            childId=child_id,
            notifiedAgency=agency,  # not `agency`: that is the reader's, as in every record
        )
        await services.notifier.submit(agency, event, if_failed)
