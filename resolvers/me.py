"""``me``: the practitioner the token belongs to."""

from __future__ import annotations

from strawberry.types import Info

from gateway.graphql.schema import Me
from gateway.pipeline.authenticate import require_subject
from gateway.pipeline.context import Context


async def resolve_me(info: Info[Context, None]) -> Me:
    s = require_subject(info.context.state.subject, info.context.state.auth_error)
    return Me(id=s.practitioner_id, role=s.role, agency=s.agency, two_factor=s.mfa)
