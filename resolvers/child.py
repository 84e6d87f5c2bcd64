"""``child(id, purpose, breakGlass)``: arguments in, the child pipeline, the answer out."""

from __future__ import annotations

from typing import cast

import strawberry
from strawberry.types import Info

from gateway.graphql.schema import Child, PurposeEnum
from gateway.pipeline.child import ChildRequest
from gateway.pipeline.context import Context
from gateway.types import Purpose


async def resolve_child(
    info: Info[Context, None],
    id: strawberry.ID,
    purpose: PurposeEnum | None = None,  # type: ignore[valid-type]
    break_glass: str | None = None,
) -> Child | None:
    services, state = info.context.services, info.context.state
    request = ChildRequest(
        subject=state.subject,
        auth_error=state.auth_error,
        child_id=str(id),
        purpose=None if purpose is None else Purpose(purpose).value,
        break_glass=break_glass,
        selection=tuple(services.selections.of(info)),
        path=tuple(info.path.as_list()),
        request_id=state.request_id,
    )
    answer = await services.child.run(request)
    state.agencies_called.update(answer.agencies_called)
    state.agencies_ms = max(state.agencies_ms, answer.agencies_ms)
    state.withheld.extend(answer.withheld)
    for path, err in answer.agency_errors:
        state.extra_errors.append((path, err.message, dict(err.extensions)))
    return cast(Child | None, answer.data)  # a Completed answer: the executor passes it through as it is
