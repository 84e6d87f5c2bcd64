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
    └── ConfigError               (start-up and commands only; never reaches a client)
        └── UsageError            (a command given what it cannot use: an option, a file, a busy port)

Foreign exceptions (aiohttp, regopy, OS errors) are translated into these at the boundary where they
happen, with ``raise X(...) from exc``; clients never see stack traces or upstream bodies. The two
parsers every file the gateway reads goes through, pydantic and YAML, are translated here, once, into
one-line messages that name the file and the key (:meth:`ConfigError.invalid`, :meth:`ConfigError.not_yaml`).
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

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
"""Every code a client may see. Documented in the README; the unit tests check every error class's code is
here, and the end-to-end tests every code an answer carried (``support.stack.codes``)."""


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
    """A problem with configuration, connector files, labels or policies, found at start-up.

    The message is one line that names where the problem is (a file, a key, a variable); the command line
    prints it as it is and exits 2.
    """

    code = "INTERNAL"

    @classmethod
    def invalid(cls, where: str, exc: ValidationError, model: type[BaseModel] | None = None) -> ConfigError:
        """One line for a pydantic validation error: ``where: key.path: what is wrong; ...``.

        Values are never quoted back (a misspelt key can hold a secret); an unknown key is named, with the
        closest key ``model`` has at that place as a suggestion.
        """
        return cls(f"{where}: {describe_invalid(exc, model)}")

    @classmethod
    def not_yaml(cls, where: str, exc: yaml.YAMLError) -> ConfigError:
        """One line for a YAML syntax error: ``file:line:column: not valid YAML: problem``."""
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
        problem = getattr(exc, "problem", None) or str(exc)
        return cls(f"{at}: not valid YAML: {' '.join(str(problem).split())}")


class UsageError(ConfigError):
    """A command was given something it cannot use: an option's value, a file that is not there, a port in use.

    ``prog`` names the (sub)command when the message is about its command line (``wardgate run: ...``).
    """

    def __init__(self, message: str, *, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


def describe_invalid(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """Every problem pydantic found, as ``key.path: what is wrong``, joined by ``; ``."""
    return "; ".join(describe_problem(e, model) for e in exc.errors(include_url=False, include_input=False))


def describe_problem(error: ErrorDetails, model: type[BaseModel] | None = None, *, skip: int = 0) -> str:
    """One of pydantic's problems as ``key.path: what is wrong``, the first ``skip`` parts of the path left out."""
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"][skip:]).lstrip(".")
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][-1]), _keys_at(model, error["loc"][:-1]), n=1)
        return f"unknown key {loc or str(error['loc'][-1])!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if error["type"] == "missing":
        return f"{loc}: missing (it is required)"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Input ")
    return f"{loc}: {message}" if loc else message


def _keys_at(model: type[BaseModel] | None, path: Iterable[int | str]) -> list[str]:
    """The keys (field names and aliases) of the model found by following ``path`` from ``model``."""
    for part in path:
        field = model.model_fields.get(str(part)) if model is not None else None
        if field is not None:  # else a list index or a mapping's key: the same model holds the next part
            model = _model_in(field.annotation)
    if model is None:
        return []
    return [*model.model_fields, *(f.alias for f in model.model_fields.values() if f.alias)]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or inside ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None
