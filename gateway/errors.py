"""One error hierarchy for the gateway, with the stable codes clients see in ``extensions.code``.

    WardgateError
    ├── AuthError                 UNAUTHENTICATED
    ├── PurposeRequired           PURPOSE_REQUIRED
    ├── BreakGlassRefused         BREAK_GLASS_REFUSED
    ├── QueryTooComplex           QUERY_TOO_COMPLEX
    ├── DocumentNotTrusted        DOCUMENT_NOT_TRUSTED
    ├── ChildNotFound             NOT_FOUND
    ├── AgencyError               (one agency's part of an answer)
    │   ├── AgencyUnavailable     AGENCY_UNAVAILABLE
    │   ├── AgencyTimeout         AGENCY_TIMEOUT
    │   └── AgencyBadResponse     AGENCY_BAD_RESPONSE
    ├── PolicyUnavailable         POLICY_UNAVAILABLE
    ├── AuditUnavailable          AUDIT_UNAVAILABLE
    └── ConfigError               (start-up only; never reaches a client)

Foreign exceptions (aiohttp, regopy, OS errors) are translated into these at the boundary where they
happen, with ``raise X(...) from exc``; clients never see stack traces or upstream bodies.
"""

from __future__ import annotations

from typing import Any

CODES = (
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "FORBIDDEN_FIELD",
    "PURPOSE_REQUIRED",
    "BREAK_GLASS_REFUSED",
    "QUERY_TOO_COMPLEX",
    "REQUEST_TOO_LARGE",
    "DOCUMENT_NOT_TRUSTED",
    "INTROSPECTION_DISABLED",
    "BAD_REQUEST",
    "NOT_FOUND",
    "AGENCY_UNAVAILABLE",
    "AGENCY_TIMEOUT",
    "AGENCY_BAD_RESPONSE",
    "POLICY_UNAVAILABLE",
    "AUDIT_UNAVAILABLE",
    "RATE_LIMITED",
    "WEAK_MATCH",
    "INTERNAL",
)
"""Every code a client may see. Documented in the README; tests check nothing else escapes."""


class WardgateError(Exception):
    """Base of every error the gateway raises on purpose."""

    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class AuthError(WardgateError):
    code = "UNAUTHENTICATED"


class Forbidden(WardgateError):
    code = "FORBIDDEN"


class PurposeRequired(WardgateError):
    code = "PURPOSE_REQUIRED"


class BreakGlassRefused(WardgateError):
    code = "BREAK_GLASS_REFUSED"


class QueryTooComplex(WardgateError):
    code = "QUERY_TOO_COMPLEX"


class DocumentNotTrusted(WardgateError):
    code = "DOCUMENT_NOT_TRUSTED"


class BadRequest(WardgateError):
    code = "BAD_REQUEST"


class ChildNotFound(WardgateError):
    code = "NOT_FOUND"


class AgencyError(WardgateError):
    """One agency could not give its part; the rest of the answer still goes out."""

    def __init__(self, agency: str, message: str) -> None:
        super().__init__(message, agency=agency)
        self.agency = agency


class AgencyUnavailable(AgencyError):
    code = "AGENCY_UNAVAILABLE"


class AgencyTimeout(AgencyError):
    code = "AGENCY_TIMEOUT"


class AgencyBadResponse(AgencyError):
    code = "AGENCY_BAD_RESPONSE"


class PolicyUnavailable(WardgateError):
    code = "POLICY_UNAVAILABLE"


class AuditUnavailable(WardgateError):
    code = "AUDIT_UNAVAILABLE"


class RateLimited(WardgateError):
    code = "RATE_LIMITED"


class ConfigError(WardgateError):
    """A problem with configuration, connector files, labels or policies, found at start-up."""

    code = "INTERNAL"
