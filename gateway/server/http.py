"""GraphQL over HTTP: the view that turns an HTTP request into a GraphQL request with the gateway's context,
and the body limit in front of it.

The view authenticates the bearer token once per request (the pipeline's first stage reads the result),
decodes and encodes with orjson, and hands each response's errors to :mod:`gateway.pipeline.respond`.

Media types, as the GraphQL-over-HTTP specification has them: a client that prefers
``application/graphql-response+json`` (``Accept: application/graphql-response+json, application/json;q=0.9``)
gets it, and a request that fails before execution (a document that does not parse or validate, variables
that do not coerce, a refused body) is then a 4xx without a ``data`` entry. Everyone else gets
``application/json`` as before: 200 with ``"data": null`` and the errors. Every refusal, including a body
that is not JSON or is a batch, is a GraphQL response with ``extensions.code``, never plain text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import mimeparse
import orjson
from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.types import ExecutionResult

from gateway.errors import AuthError
from gateway.pipeline.context import Context, RequestState
from gateway.pipeline.respond import format_error, request_id, withheld_errors

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_OFFERED = [GRAPHQL_RESPONSE, JSON]  # on a tie (*/*, both listed alike) the last, JSON, wins: the older clients'


def response_media_type(accept: str | None) -> str:
    """The media type to answer in for this ``Accept`` header: JSON unless the client prefers the GraphQL one."""
    if not accept:
        return JSON
    try:
        return str(mimeparse.best_match(_OFFERED, accept) or JSON)
    except ValueError:  # an Accept header that does not parse: answer as if none were sent
        return JSON


def refusal(status: int, message: str, code: str, media_type: str) -> Response:
    """A request refused before execution, as a GraphQL response: no ``data`` under the GraphQL media type."""
    body: dict[str, Any] = {"errors": [{"message": message, "extensions": {"code": code}}]}
    if media_type == JSON:
        body = {"data": None, **body}
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


_CODES = {404: "NOT_FOUND", 413: "REQUEST_TOO_LARGE", 414: "REQUEST_TOO_LARGE"}


class GatewayView(GraphQL[Context, None]):
    """Strawberry's ASGI view with the gateway's context, error codes, JSON encoder and media types."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:  # Strawberry's refusals (not JSON, a batch, no query, ...): plain text otherwise
            media_type = response_media_type(request.headers.get("accept"))
            reason = _REASONS.get(exc.reason, exc.reason)
            response = refusal(exc.status_code, reason, _CODES.get(exc.status_code, "BAD_REQUEST"), media_type)
        await response(scope, receive, send)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        request.state.sub_response = sub_response  # process_result sets the status of a request error on it
        return sub_response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or 200,
            media_type=sub_response.media_type or JSON,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response

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
        sub_response: Response | None = getattr(request.state, "sub_response", None)
        if sub_response is not None and sub_response.media_type == GRAPHQL_RESPONSE and _request_error(result):
            # The document did not parse or validate, or the variables did not coerce: nothing was executed.
            sub_response.status_code = 400
            return {"errors": errors}  # the specification's answer has no data entry
        out: GraphQLHTTPResponse = {"data": result.data}
        if errors:
            out["errors"] = errors
        return out


def _request_error(result: ExecutionResult) -> bool:
    """Whether the request failed before execution: no data, and errors at no path (a field's error has one)."""
    return result.data is None and bool(result.errors) and all(not e.path for e in result.errors or [])


# Strawberry's words for what a client sent, said as the gateway says everything else.
_REASONS = {
    "Unable to parse request body as JSON": "the request body is not JSON",
    "Batching is not enabled": "send one operation per request: a JSON array (batch) is not accepted",
}


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
            await self._reject(scope, receive, send, 414, "the query string is over the limit")
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send, 413, "the request body is over the limit")
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
                await self._reject(scope, receive, send, 413, "the request body is over the limit")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        if self.on_reject is not None:
            self.on_reject()
        accept = Headers(scope=scope).get("accept")
        response = refusal(
            status, f"{message} ({self.max_bytes} bytes)", "REQUEST_TOO_LARGE", response_media_type(accept)
        )
        await response(scope, receive, send)


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
