"""The gateway's schema asked in process, as one HTTP request would ask it: the view's own context and result."""

from __future__ import annotations

import itertools
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request

from gateway.dev.tokens import dev_token
from gateway.pipeline.context import RequestState, Services
from gateway.server.http import GatewayView
from mocks.population import Population
from support.inprocess import Agencies

_ids = itertools.count()


class Gateway:
    """The schema, services and view without a server: :meth:`ask` is one GraphQL request."""

    def __init__(self, schema: strawberry.Schema, services: Services, transport: Agencies, pop: Population) -> None:
        self.schema, self.services, self.transport, self.pop = schema, services, transport, pop
        self.view = GatewayView(schema)
        self.app = Starlette()
        self.app.state.services = services

    async def ask(
        self, query: str, persona: str | None = None, *, mfa: bool = True, token: str | None = None, **variables: Any
    ) -> tuple[dict[str, Any], RequestState]:
        """The body a client would get for ``query`` asked as ``persona`` (or with ``token``), and the request's
        state; the context comes from ``GatewayView.get_context`` and the body from its ``process_result``."""
        if persona is not None:
            token = dev_token(persona, mfa=mfa)
        headers = [(b"x-request-id", f"unit-resolvers-{next(_ids)}".encode())]
        if token is not None:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": headers, "app": self.app})
        context = await self.view.get_context(request, None)
        result = await self.schema.execute(query, variable_values=variables, context_value=context)
        return dict(await self.view.process_result(request, result)), context.state

    def calls(self, agency: str) -> int:
        return self.transport.calls.get(agency, 0)


def codes(body: dict[str, Any]) -> list[tuple[list[Any] | None, str]]:
    """Each error's path and code, in order."""
    return [(e.get("path"), e["extensions"]["code"]) for e in body.get("errors", [])]
