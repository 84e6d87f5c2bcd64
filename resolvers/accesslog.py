"""``accessLog(childId)``: who looked at this child's record, when and why — for the auditor role only.

The answer comes from the audit trail itself, and reading it is audited in turn.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gateway.errors import BadRequest, Forbidden
from gateway.graphql.schema import AccessRecord, WithheldField
from gateway.identifiers import nhs_number_is_valid
from gateway.pipeline.audit import audit_event
from gateway.pipeline.authenticate import require_subject
from gateway.pipeline.context import Context

AUDITOR_ROLES = frozenset({"auditor"})
KINDS = ("child.read", "break-glass.refused", "policy.explain", "alert")


async def resolve_access_log(info: Info[Context, None], child_id: strawberry.ID) -> list[AccessRecord]:
    ctx = info.context
    services, state = ctx.services, ctx.state
    subject = require_subject(state.subject, state.auth_error)
    if subject.role not in AUDITOR_ROLES:
        raise Forbidden("the access log is for auditors")
    nhs = str(child_id).replace(" ", "")
    if not nhs_number_is_valid(nhs):
        raise BadRequest("childId must be a valid NHS number")
    records = [r for r in await services.audit.records(childId=nhs) if r.get("type") in KINDS]
    await services.audit.write(
        audit_event(
            "audit.read",
            state.request_id,
            subject,
            "audit",
            subjectChildId=nhs,  # not childId: reading the log is not a look at the child's record
            recordsReturned=len(records),
        )
    )
    return [
        AccessRecord(
            at=str(r.get("at")),
            kind=str(r.get("type")),
            request_id=r.get("requestId"),
            practitioner=r.get("practitioner"),
            role=r.get("role"),
            agency=r.get("agency"),
            purpose=r.get("purpose"),
            break_glass=r.get("breakGlass"),
            agencies_called=list(r.get("agenciesCalled") or []),
            fields_returned=list(r.get("fieldsReturned") or []),
            fields_withheld=[WithheldField(path=w["path"], reason=w["reason"]) for w in r.get("fieldsWithheld") or []],
            policy_revision=r.get("policyRevision"),
        )
        for r in records
    ]
