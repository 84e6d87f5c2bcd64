"""Helpers every resolver uses: the typed context and the authenticated subject."""

from __future__ import annotations

from strawberry.types import Info

from gateway.errors import AuthError
from gateway.types import Context, Subject


def subject_of(info: Info[Context, None]) -> Subject:
    state = info.context.state
    if state.subject is None:
        raise AuthError("authentication required", reason=state.auth_error or "MISSING")
    return state.subject
