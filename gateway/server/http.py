"""GraphQL over HTTP: the view that turns an HTTP request into a GraphQL request with the gateway's context,
and the body limit in front of it.

The view authenticates the bearer token once per request (the pipeline's first stage reads the result),
decodes and encodes with orjson, and hands each response's errors to :mod:`gateway.pipeline.respond`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.types import ExecutionResult

from gateway.errors import AuthError
from gateway.pipeline.context import Context, RequestState
from gateway.pipeline.respond import format_error, request_id, withheld_errors


class GatewayView(GraphQL[Context, None]):
    """Strawberry's ASGI view with the gateway's context, error codes and JSON encoder."""

    async def get_context(self, request: Request, response: Response | Any) -> Context:  # type: ignore[override]
        services = request.app.state.services
        state = RequestState(request_id=request_id(request.headers.get("x-request-id")), subject=None)
        try:
            state.subject = services.authenticator.authenticate(request.headers.get("authorization"))
        except AuthError as exc:
            state.auth_error = exc.extensions.get("reason", "INVALID")
        request.state.wardgate = state
        return Context(services=services, request=request, state=state)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)  # orjson.JSONDecodeError is a json.JSONDecodeError: Strawberry's 400 stands

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        return _document_id_to_extensions(super().parse_query_params(params))  # type: ignore[no-any-return]

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData) and data.query is None and request.method == "POST":
            # Only a body without a query can be naming a trusted document by top-level documentId.
            with contextlib.suppress(orjson.JSONDecodeError):
                body = _document_id_to_extensions(orjson.loads(await request.get_body()))
                if isinstance(body, dict) and isinstance(body.get("extensions"), dict):
                    data.extensions = body["extensions"]
        return data

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        state: RequestState | None = getattr(request.state, "wardgate", None)
        errors: list[object] = [format_error(err) for err in result.errors or []]
        if state is not None:
            errors += withheld_errors(state.withheld)
            for path, message, extensions in state.extra_errors:
                errors.append({"message": message, "path": list(path), "extensions": extensions})
        out: GraphQLHTTPResponse = {"data": result.data}
        if errors:
            out["errors"] = errors
        return out


def _document_id_to_extensions(data: Any) -> Any:
    """A trusted document's id may come as top-level ``documentId``; Strawberry passes on only
    ``extensions``, so it travels there (see :class:`gateway.graphql.limits.TrustedDocuments`)."""
    if isinstance(data, dict) and isinstance(data.get("documentId"), str):
        extensions = data.get("extensions")
        data["extensions"] = {**(extensions if isinstance(extensions, dict) else {}), "documentId": data["documentId"]}
    return data


class BodyLimit:
    """Refuse a request whose body (or GET query string) is over ``max_bytes``, before it is parsed.

    The body is read here, counting, and handed on whole; GraphQL bodies are small by design.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, on_reject: Callable[[], None] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > self.max_bytes:
            await self._reject(send, 414, "the query string is over the limit")
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(send, 413, "the request body is over the limit")
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._reject(send, 413, "the request body is over the limit")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send, status: int, message: str) -> None:
        if self.on_reject is not None:
            self.on_reject()
        payload = orjson.dumps(
            {
                "data": None,
                "errors": [
                    {"message": f"{message} ({self.max_bytes} bytes)", "extensions": {"code": "REQUEST_TOO_LARGE"}}
                ],
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class OperatorRoutes:
    """Routes for the people who run the gateway (``/metrics``) answer only on the operator listener.

    ``wardgate run`` serves the same app on two sockets, the public port and the operator port; the
    request's local address (ASGI ``scope["server"]``) says which one it came in on. Anywhere else these
    paths are not found, as if they did not exist.
    """

    def __init__(self, app: ASGIApp, *, operator_port: int, paths: tuple[str, ...] = ("/metrics",)) -> None:
        self.app = app
        self.operator_port = operator_port
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            server = scope.get("server")
            if not server or server[1] != self.operator_port:
                await Response(status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)
