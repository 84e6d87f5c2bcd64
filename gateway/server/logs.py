"""Logs: one JSON object per line (python-json-logger), one line per request, and no personal data.

What may appear in a log line: request ids, practitioner ids (pseudonymous staff ids), agencies,
routes, status codes, durations, error codes and exception *types*. What never may: a child's
name, date of birth, address, NHS number, or anything a practitioner typed. So:

- the request line names the route, never the query string (a GET query carries variables);
- GraphQL errors are logged by code and path, never by message (graphql-core's messages quote
  the variable values that failed to parse);
- an unexpected exception is logged by type and the file and line it came from, never its text.

An end-to-end test runs the policy matrix and scans every line the gateway wrote for every child's
personal data.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any

from graphql import GraphQLError
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import WardgateError
from gateway.metrics import Metrics

log = logging.getLogger("gateway.request")
errors_log = logging.getLogger("gateway.errors")

JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}

# What every LogRecord has (3.12 added taskName); anything else on a record came as ``extra=``. uvicorn's
# color_message repeats the message with terminal colours.
_STANDARD = {*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime", "color_message"}


class TextFormatter(logging.Formatter):
    """For people: the JSON format's fields as ``key=value`` after the message, so the text lines carry
    everything the JSON lines do (route, status, ms, request id, ...)."""

    def __init__(self) -> None:
        super().__init__(JSON_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # before any traceback, which format() appends
        line = super().formatMessage(record)
        fields = [
            f"{key}={_text(value)}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and value is not None
        ]
        return f"{line} {' '.join(fields)}" if fields else line


def _text(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        value = ",".join(str(v) for v in value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


def logging_config(level: str = "info", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the gateway and uvicorn (whose access log stays off)."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter, "fmt": JSON_FORMAT, "rename_fields": RENAMED, "timestamp": False}
        if fmt == "json"
        else {"()": TextFormatter}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            # aiocache logs every key at debug, and a key can hold what a practitioner typed.
            "aiocache": {"level": "WARNING"},
            # Strawberry logs whole error messages; the gateway logs its errors itself (log_errors).
            "strawberry.execution": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }


def log_errors(errors: list[GraphQLError], request_id: str | None) -> None:
    """One line per GraphQL error: code and path; an unexpected exception by type and origin only."""
    for err in errors:
        original = err.original_error
        extra: dict[str, Any] = {"requestId": request_id, "path": ".".join(map(str, err.path or []))}
        if isinstance(original, WardgateError):
            extra["code"] = original.code
            errors_log.info("request error", extra=extra)
        elif original is None or not err.path:  # refused before any field ran (validation, variables)
            extra["code"] = (err.extensions or {}).get("code", "BAD_REQUEST")
            errors_log.info("request refused", extra=extra)
        else:
            frames = traceback.extract_tb(original.__traceback__)
            where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
            errors_log.error("internal error", extra={**extra, "error": type(original).__name__, "where": where})


class RequestLog:
    """ASGI middleware: one log line and one histogram observation per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                state = (scope.get("state") or {}).get("wardgate")
                agencies_ms = getattr(state, "agencies_ms", 0.0)
                if agencies_ms:  # W3C Server-Timing: how long the agencies took, and the gateway in all
                    total_ms = (time.perf_counter() - started) * 1000
                    timing = f"agencies;dur={agencies_ms:.2f}, gateway;dur={total_ms:.2f}".encode()
                    message["headers"] = [*message.get("headers", []), (b"server-timing", timing)]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            route = path if path in ("/graphql", "/healthz", "/readyz", "/metrics") else "other"
            self.metrics.requests.labels(route, f"{status // 100}xx").observe(elapsed)
            if route not in ("/healthz", "/metrics"):
                state = (scope.get("state") or {}).get("wardgate")
                subject = getattr(state, "subject", None)
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "requestId": getattr(state, "request_id", None),
                        "practitioner": getattr(subject, "practitioner_id", None),
                    },
                )
