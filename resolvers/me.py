from __future__ import annotations

from strawberry.types import Info

from gateway.graphql.schema import Me
from gateway.types import Context
from resolvers.common import subject_of


async def resolve_me(info: Info[Context, None]) -> Me:
    s = subject_of(info)
    return Me(id=s.practitioner_id, role=s.role, agency=s.agency, two_factor=s.mfa)
