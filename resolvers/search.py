"""``searchChildren(name, dateOfBirth, postcode, purpose)``: arguments in, the search pipeline, matches out."""

from __future__ import annotations

import datetime as dt
from typing import cast

from strawberry.types import Info

from gateway.graphql.schema import ChildMatch, PurposeEnum
from gateway.pipeline.context import Context
from gateway.pipeline.search import SearchRequest
from gateway.types import Purpose


async def resolve_search_children(
    info: Info[Context, None],
    name: str,
    purpose: PurposeEnum,  # type: ignore[valid-type]
    date_of_birth: dt.date | None = None,
    postcode: str | None = None,
) -> list[ChildMatch]:
    services, state = info.context.services, info.context.state
    request = SearchRequest(
        subject=state.subject,
        auth_error=state.auth_error,
        name=name,
        purpose=Purpose(purpose).value,
        date_of_birth=date_of_birth,
        postcode=postcode,
        selection=tuple(services.selections.of(info)),
        path=tuple(info.path.as_list()),
        request_id=state.request_id,
    )
    answer = await services.search.run(request)
    state.withheld.extend(answer.withheld)
    return cast(list[ChildMatch], answer.matches)  # Completed answers: the executor passes them through
