"""The services a request uses, built once per worker, and the state one request accumulates.

The composition layer (:mod:`gateway.server.app`) builds :class:`Services`; the GraphQL view makes a
:class:`Context` per request, and resolvers hand their arguments to the pipelines in it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from gateway.agencies.cache import DirectoryCache
from gateway.agencies.client import AgencyClient
from gateway.agencies.connectors import Connector
from gateway.agencies.directory import DirectoryClient
from gateway.agencies.resilience import Guards
from gateway.agencies.upstream import UpstreamClient
from gateway.config import Settings
from gateway.graphql.labels import FieldTable
from gateway.graphql.selection import SelectionCache
from gateway.metrics import Metrics
from gateway.pipeline.audit import AuditSink
from gateway.pipeline.authenticate import Authenticator
from gateway.pipeline.child import ChildPipeline
from gateway.pipeline.notify import Notifier
from gateway.pipeline.policy.decide import Policy
from gateway.pipeline.search import SearchPipeline
from gateway.types import Subject, Withheld


@dataclass(slots=True)
class Services:
    """Everything a request needs, built once per worker."""

    settings: Settings
    connectors: dict[str, Connector]
    clients: dict[str, AgencyClient]
    upstream: UpstreamClient
    policy: Policy
    audit: AuditSink
    authenticator: Authenticator
    table: FieldTable
    directory: DirectoryClient
    metrics: Metrics
    guards: Guards
    cache: DirectoryCache
    notifier: Notifier
    selections: SelectionCache
    child: ChildPipeline
    search: SearchPipeline
    background: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass(slots=True)
class RequestState:
    """Everything one GraphQL request accumulates on its way through the pipeline."""

    request_id: str
    subject: Subject | None
    auth_error: str | None = None
    withheld: list[Withheld] = field(default_factory=list)
    extra_errors: list[tuple[tuple[str | int, ...], str, dict[str, Any]]] = field(default_factory=list)
    agencies_called: set[str] = field(default_factory=set)
    agencies_ms: float = 0.0  # wall time of the fan-out (the slowest agency chain), for Server-Timing


@dataclass(slots=True)
class Context:
    """The Strawberry context: the injected services plus this request's state."""

    services: Services
    request: Request
    state: RequestState
