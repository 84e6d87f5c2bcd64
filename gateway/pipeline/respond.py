"""Respond: the GraphQL-over-HTTP view. orjson bodies; withheld fields and agency failures become
errors at their paths; every error carries a stable ``extensions.code``.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLOutputType, GraphQLResolveInfo, is_non_null_type
from graphql.pyutils import Path
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionResult

from gateway.errors import AuthError, WardgateError
from gateway.types import Completed, Context, RequestState


class GatewayExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, except that an answer the policy stage already completed is used as it is.

    ``child`` and ``searchChildren`` build their answers field by field while applying the policy
    (:func:`gateway.pipeline.policy.decide.apply`): keyed by response key, leaves serialised by their own types, nulls
    moved up as GraphQL moves them. Walking those ~100 fields again, resolver by resolver, was a third
    of the gateway's CPU per child profile.
    """

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if type(result) is Completed:
            if result.data is None and is_non_null_type(return_type):
                raise GraphQLError(
                    f"Cannot return null for non-nullable field {info.parent_type.name}.{info.field_name}."
                )
            return result.data
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)


class GatewayView(GraphQL[Context, None]):
    """Strawberry's ASGI view with the gateway's context, error codes and JSON encoder."""

    async def get_context(self, request: Request, response: Response | Any) -> Context:  # type: ignore[override]
        services = request.app.state.services
        state = RequestState(request_id=_request_id(request.headers.get("x-request-id")), subject=None)
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
        errors: list[dict[str, Any]] = []
        for err in result.errors or []:
            errors.append(_format(err))
        if state is not None:
            for w in state.withheld:
                errors.append(
                    {
                        "message": "Withheld by policy",
                        "path": list(w.path),
                        "extensions": {"code": w.code, "reason": w.reason},
                    }
                )
            for path, message, extensions in state.extra_errors:
                errors.append({"message": message, "path": list(path), "extensions": extensions})
        out: GraphQLHTTPResponse = {"data": result.data}
        if errors:
            out["errors"] = errors
        return out


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _request_id(given: str | None) -> str:
    """The caller's ``X-Request-Id`` if it is a plain correlation id, else a fresh one.

    It is forwarded to every agency and written to the audit trail, so an arbitrary value (kilobytes,
    or characters an agency's log might take for syntax) is replaced rather than passed on.
    """
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def _document_id_to_extensions(data: Any) -> Any:
    """A trusted document's id may come as top-level ``documentId``; Strawberry passes on only
    ``extensions``, so it travels there (see :class:`gateway.graphql.limits.TrustedDocuments`)."""
    if isinstance(data, dict) and isinstance(data.get("documentId"), str):
        extensions = data.get("extensions")
        data["extensions"] = {**(extensions if isinstance(extensions, dict) else {}), "documentId": data["documentId"]}
    return data


def _format(err: GraphQLError) -> dict[str, Any]:
    original = err.original_error
    body: dict[str, Any] = {"message": err.message}
    if err.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in err.locations]
    if err.path:
        body["path"] = list(err.path)
    if isinstance(original, WardgateError):
        body["message"] = original.message
        body["extensions"] = dict(original.extensions)
    elif original is None:
        if err.extensions and err.extensions.get("code"):  # our validation rules set their own code
            body["extensions"] = dict(err.extensions)
        else:
            body["extensions"] = {"code": "QUERY_TOO_COMPLEX" if _too_complex(err.message) else "BAD_REQUEST"}
    else:
        # Never a stack trace or an upstream body: an unexpected failure is only "internal".
        body["message"] = "Internal error"
        body["extensions"] = {"code": "INTERNAL"}
    return body


def _too_complex(message: str) -> bool:
    lowered = message.lower()
    return any(m in lowered for m in ("exceeds maximum", "maximum number", "too many", "more than", "aliases found"))
