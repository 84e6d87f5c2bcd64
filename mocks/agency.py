"""What every mock agency shares: its credential, its call log, its faults, its admin and OpenAPI routes.

An agency module describes only its own API (routes and OpenAPI document); :func:`agency_app` wraps it
the way a supplier's gateway would::

    app = agency_app("health", routes, openapi, credential=Credential("bearer", "dev-health-token"),
                     faults=Faults())

Call order, outermost first: credential check -> call log -> faults -> the agency's routes. The
admin routes (``/__admin/...``) and ``/openapi.json`` need no agency credential; the admin routes
take the admin key in ``X-Admin-Key``.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mocks.faults import FaultInjector, Faults

ADMIN_PREFIX = "/__admin"
FORWARDED = ("x-practitioner-id", "x-purpose", "x-request-id")


@dataclass(frozen=True, slots=True)
class Credential:
    """How the gateway must prove itself to this agency.

    ``bearer``: ``Authorization: Bearer <secret>``; ``api-key``: the secret in ``header``;
    ``basic``: HTTP Basic with ``user`` and the secret as password.
    """

    scheme: Literal["bearer", "api-key", "basic"]
    secret: str
    header: str = "x-api-key"
    user: str = "wardgate"

    def accepts(self, headers: dict[bytes, bytes]) -> bool:
        if self.scheme == "api-key":
            offered = headers.get(self.header.lower().encode(), b"").decode("latin-1")
            return bool(offered) and hmac.compare_digest(offered, self.secret)
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if self.scheme == "bearer":
            return auth.startswith("Bearer ") and hmac.compare_digest(auth[7:], self.secret)
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.secret}".encode()).decode()
        return hmac.compare_digest(auth, expected)

    def openapi_scheme(self) -> dict[str, Any]:
        if self.scheme == "bearer":
            return {"type": "http", "scheme": "bearer"}
        if self.scheme == "basic":
            return {"type": "http", "scheme": "basic"}
        return {"type": "apiKey", "in": "header", "name": self.header}


@dataclass(slots=True)
class Call:
    """One call as the agency saw it; times are ``time.monotonic()`` on this machine."""

    method: str
    path: str
    query: str
    started: float
    ended: float
    status: int
    practitioner: str | None
    purpose: str | None
    request_id: str | None
    in_flight_at_start: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "started": self.started,
            "ended": self.ended,
            "status": self.status,
            "practitioner": self.practitioner,
            "purpose": self.purpose,
            "requestId": self.request_id,
            "inFlightAtStart": self.in_flight_at_start,
        }


class CallLog:
    """The agency's own record of calls, so tests can check forwarding and concurrency."""

    def __init__(self, maxlen: int = 20_000) -> None:
        self.calls: deque[Call] = deque(maxlen=maxlen)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rejected = 0

    def clear(self) -> None:
        self.calls.clear()
        self.peak_in_flight = self.in_flight
        self.rejected = 0


class _Guard:
    """Credential check and call log around the agency's routes (admin and OpenAPI exempt)."""

    def __init__(self, app: ASGIApp, *, credential: Credential, log: CallLog, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.credential = credential
        self.log = log
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not self.credential.accepts(headers):
            self.log.rejected += 1
            response = JSONResponse(
                {"error": "unauthorised", "message": "A valid credential is required"},
                status_code=401,
                headers={"WWW-Authenticate": _challenge(self.credential)},
            )
            await response(scope, receive, send)
            return
        log = self.log
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.monotonic()
        in_flight = log.in_flight
        log.in_flight += 1
        log.peak_in_flight = max(log.peak_in_flight, log.in_flight)

        def get(name: str) -> str | None:
            value = headers.get(name.encode())
            return value.decode("latin-1") if value is not None else None

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            log.in_flight -= 1
            log.calls.append(
                Call(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope["query_string"].decode("latin-1"),
                    started=started,
                    ended=time.monotonic(),
                    status=status,
                    practitioner=get("x-practitioner-id"),
                    purpose=get("x-purpose"),
                    request_id=get("x-request-id"),
                    in_flight_at_start=in_flight,
                )
            )


def _challenge(credential: Credential) -> str:
    if credential.scheme == "basic":
        return 'Basic realm="agency"'
    if credential.scheme == "bearer":
        return 'Bearer realm="agency"'
    return f'ApiKey header="{credential.header}"'


def require_forwarded(request: Request) -> JSONResponse | None:
    """Child-data endpoints refuse calls that do not say who is asking, why, and under which request."""
    missing = [h for h in FORWARDED if not request.headers.get(h)]
    if missing:
        return JSONResponse({"error": "bad-request", "message": f"missing headers: {', '.join(missing)}"}, 400)
    return None


def agency_app(
    agency: str,
    routes: Sequence[BaseRoute],
    openapi: dict[str, Any],
    *,
    credential: Credential,
    faults: Faults,
    admin_key: str = "mock-admin",
) -> AgencyApp:
    """Wrap an agency's routes with its credential, call log, faults, admin and OpenAPI routes."""
    log = CallLog()
    document = dict(openapi)
    document.setdefault("components", {}).setdefault("securitySchemes", {})["agencyCredential"] = (
        credential.openapi_scheme()
    )
    document["security"] = [{"agencyCredential": []}]
    injector_ref: list[FaultInjector] = []

    def admin_ok(request: Request) -> bool:
        return hmac.compare_digest(request.headers.get("x-admin-key", ""), admin_key)

    async def get_openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def admin_faults(request: Request) -> Response:
        if not admin_ok(request):
            return JSONResponse({"error": "admin key required"}, 401)
        injector = injector_ref[0]
        if request.method in ("PUT", "POST"):
            try:
                injector.set(Faults.model_validate_json(await request.body()))
            except ValidationError as exc:
                return JSONResponse({"error": "invalid faults", "detail": exc.errors(include_url=False)}, 422)
        return JSONResponse(injector.describe())

    async def admin_calls(request: Request) -> Response:
        if not admin_ok(request):
            return JSONResponse({"error": "admin key required"}, 401)
        if request.method == "DELETE":
            log.clear()
            return Response(status_code=204)
        return JSONResponse(
            {
                "agency": agency,
                "inFlight": log.in_flight,
                "peakInFlight": log.peak_in_flight,
                "rejected": log.rejected,
                "calls": [c.as_dict() for c in log.calls],
            }
        )

    inbox: list[Any] = []

    async def notifications(request: Request) -> Response:
        """Where the gateway tells this agency that another agency read its restricted data."""
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "bad-request", "message": "body is not JSON"}, 400)
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return JSONResponse({"error": "bad-request", "message": 'expected {"events": [...]}'}, 400)
        inbox.extend(events)
        return JSONResponse({"received": len(events)}, 202)

    async def admin_notifications(request: Request) -> Response:
        if not admin_ok(request):
            return JSONResponse({"error": "admin key required"}, 401)
        if request.method == "DELETE":
            inbox.clear()
            return Response(status_code=204)
        return JSONResponse({"notifications": inbox})

    async def health(request: Request) -> Response:
        """Up or not, for the gateway's readiness check (credential and faults apply, as to any call)."""
        return JSONResponse({"status": "ok", "agency": agency})

    exempt = (ADMIN_PREFIX, "/openapi.json")
    inner = Starlette(
        routes=[
            Route("/openapi.json", get_openapi),
            Route(f"{ADMIN_PREFIX}/faults", admin_faults, methods=["GET", "PUT", "POST"]),
            Route(f"{ADMIN_PREFIX}/calls", admin_calls, methods=["GET", "DELETE"]),
            Route(f"{ADMIN_PREFIX}/notifications", admin_notifications, methods=["GET", "DELETE"]),
            Route("/notifications", notifications, methods=["POST"]),
            Route("/health", health),
            *routes,
        ]
    )
    injector = FaultInjector(inner, faults=faults, agency=agency, exempt=exempt)
    injector_ref.append(injector)
    return AgencyApp(agency, _Guard(injector, credential=credential, log=log, exempt=exempt), log, injector)


class AgencyApp:
    """A mock agency as an ASGI app, with handles on its call log and faults for in-process use."""

    def __init__(self, agency: str, app: ASGIApp, log: CallLog, faults: FaultInjector) -> None:
        self.agency = agency
        self.log = log
        self.faults = faults
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while True:
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
                message = await receive()
        await self._app(scope, receive, send)


def paged(
    items: list[Any], request: Request, *, default_size: int = 25, max_size: int = 100
) -> tuple[list[Any], dict[str, Any]]:
    """Slice ``items`` by ``page`` (1-based) and ``pageSize`` query parameters."""
    try:
        page = max(1, int(request.query_params.get("page", "1")))
        size = min(max_size, max(1, int(request.query_params.get("pageSize", str(default_size)))))
    except ValueError:
        page, size = 1, default_size
    start = (page - 1) * size
    meta = {"page": page, "pageSize": size, "totalCount": len(items), "totalPages": max(1, -(-len(items) // size))}
    return items[start : start + size], meta
