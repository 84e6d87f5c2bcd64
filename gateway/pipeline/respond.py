"""Respond: what a client sees. Withheld fields and agency failures become errors at their paths, every
error carries a stable ``extensions.code``, and nothing internal (a stack trace, an upstream body) leaks.

The HTTP side (GraphQL over HTTP, orjson bodies) is :class:`gateway.server.http.GatewayView`; this module is
what it calls to turn a request's outcome into the ``errors`` of the response.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError

from gateway.errors import WardgateError
from gateway.types import Withheld


def withheld_errors(withheld: Iterable[Withheld]) -> list[dict[str, Any]]:
    """One error per withheld field, at its path, with the policy's reason."""
    return [
        {
            "message": "Withheld by policy",
            "path": list(w.path),
            "extensions": {"code": w.code, "reason": w.reason, **({"agency": w.agency} if w.agency else {})},
        }
        for w in withheld
    ]


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(given: str | None) -> str:
    """The caller's ``X-Request-Id`` if it is a plain correlation id, else a fresh one.

    It is forwarded to every agency and written to the audit trail, so an arbitrary value (kilobytes,
    or characters an agency's log might take for syntax) is replaced rather than passed on.
    """
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def format_error(err: GraphQLError) -> dict[str, Any]:
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
    elif not err.path:
        # An error with no field is the request's own: a variable that does not coerce to its type (a
        # non-date for Date, an unknown enum value). It is the caller's mistake, and says which.
        body["extensions"] = {"code": "BAD_REQUEST"}
    else:
        # Never a stack trace or an upstream body: an unexpected failure is only "internal".
        body["message"] = "Internal error"
        body["extensions"] = {"code": "INTERNAL"}
    return body


# The limits Strawberry and graphql-core enforce (depth, aliases, tokens) say so only in their messages; each
# is matched whole, from the start, so a value a client typed (quoted inside another error's message) can
# never make a mistake look like a refusal for size.
_TOO_COMPLEX = re.compile(
    r"'[^']*' exceeds maximum operation depth of \d+"
    r"|\d+ aliases found\. Allowed: \d+"
    r"|Syntax Error: Document contains more than \d+ tokens\..*",
    re.S,
)


def _too_complex(message: str) -> bool:
    return _TOO_COMPLEX.fullmatch(message) is not None
