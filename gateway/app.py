"""Application factory: builds every service once at start-up and injects it; no module-level singletons."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.audit import AuditSink, JsonlAuditSink
from gateway.authenticate import Authenticator
from gateway.config import DEV_SEARCH_KEY, Settings
from gateway.connectors import Connector, load_connectors
from gateway.engines import EmbeddedEngine, OpaEngine, PolicyEngine
from gateway.errors import ConfigError
from gateway.fanout import FanOut
from gateway.labels import FieldTable, field_table
from gateway.limits import SearchRateLimiter, limit_extensions
from gateway.link import Linker, Matcher, RuleMatcher
from gateway.policy import Policy
from gateway.respond import GatewayView
from gateway.types import Label
from gateway.upstream import AiohttpUpstream, HttpxUpstream, UpstreamClient

log = logging.getLogger("gateway.app")


@dataclass(slots=True)
class Services:
    """Everything a request needs, built once per worker."""

    settings: Settings
    connectors: dict[str, Connector]
    upstream: UpstreamClient
    fanout: FanOut
    linker: Linker
    policy: Policy
    audit: AuditSink
    authenticator: Authenticator
    table: FieldTable
    presence: dict[str, Label]
    directory: Any
    search_limiter: SearchRateLimiter
    background: list[asyncio.Task[None]] = field(default_factory=list)


def build_schema(settings: Settings) -> strawberry.Schema:
    from resolvers import Query

    return strawberry.Schema(query=Query, extensions=limit_extensions(settings))


def build_services(
    settings: Settings,
    schema: strawberry.Schema,
    *,
    upstream: UpstreamClient | None = None,
    engine: PolicyEngine | None = None,
    audit: AuditSink | None = None,
    matcher: Matcher | None = None,
) -> Services:
    from gateway.schema import Child
    from resolvers.directory import DirectoryClient

    overrides = {a: {"base_url": u} for a, u in settings.agency_urls.items()}
    connectors = load_connectors(settings.connectors, overrides)
    if upstream is None:
        upstream = (
            AiohttpUpstream(pool_size=settings.upstream_pool_size)
            if settings.upstream_client == "aiohttp"
            else HttpxUpstream(pool_size=settings.upstream_pool_size)
        )
    if engine is None:
        engine = (
            OpaEngine(url=settings.opa_url, timeout=settings.opa_timeout_ms / 1000, push=settings.opa_push_policies)
            if settings.policy_engine == "opa"
            else EmbeddedEngine()
        )
    from resolvers import Query

    table = field_table(schema, (Query, Child))
    if settings.mode == "production" and settings.search_hmac_key == DEV_SEARCH_KEY:
        raise ConfigError("production mode needs its own search_hmac_key (WARDGATE_SEARCH_HMAC_KEY)")
    return Services(
        settings=settings,
        connectors=connectors,
        upstream=upstream,
        fanout=FanOut(connectors, upstream, matcher or RuleMatcher()),
        linker=Linker(connectors),
        policy=Policy(engine, root=settings.policy_dir),
        audit=audit or JsonlAuditSink(settings.audit_path),
        authenticator=Authenticator(
            issuer=settings.issuer,
            audience=settings.audience,
            algorithms=settings.algorithms,
            jwks_path=settings.jwks_path,
            jwks_url=settings.jwks_url,
            leeway_s=settings.clock_skew_s,
            production=settings.mode == "production",
        ),
        table=table,
        presence={a: c.spec.presence_label for a, c in connectors.items()},
        directory=DirectoryClient(settings, upstream),
        search_limiter=SearchRateLimiter(settings.search_rate, settings.rate_limit_storage),
    )


def create_app(settings: Settings, **injected: Any) -> Starlette:
    """The gateway as an ASGI app. ``injected`` replaces services (upstream, engine, audit, matcher) in tests."""
    schema = build_schema(settings)
    services = build_services(settings, schema, **injected)
    view = GatewayView(
        schema,
        graphql_ide="graphiql" if settings.graphiql and settings.mode == "development" else None,
        allow_queries_via_get=True,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await services.policy.load()
        except ConfigError:
            if settings.policy_engine != "opa":
                raise  # the embedded engine's files are ours: a bad policy stops start-up, saying why
            log.error("OPA sidecar not ready; child fields are denied until the policy is loaded")
            services.background.append(asyncio.create_task(services.policy.load_until_loaded()))
        if settings.policy_watch:
            services.background.append(asyncio.create_task(services.policy.watch()))
        log.info("gateway ready", extra={"agencies": sorted(services.connectors)})
        try:
            yield
        finally:
            for task in services.background:
                task.cancel()
            await services.upstream.aclose()
            await services.policy.engine.aclose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = {
            "policy": await services.policy.engine.ready(),
            "audit": await services.audit.ready(),
        }
        ok = all(checks.values())
        body = {"ready": ok, "checks": checks, "policyRevision": services.policy.engine.revision}
        if services.policy.last_error:
            body["policyError"] = services.policy.last_error
        return JSONResponse(body, status_code=200 if ok else 503)

    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.schema = schema
    return app
