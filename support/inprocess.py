"""The mock agencies in this process, behind an httpx transport, and a fan-out (or every service) over them: for
tests and benchmarks that compare how the gateway calls agencies without servers or sockets."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlsplit

import httpx
import strawberry

from gateway.agencies.client import AgencyClient
from gateway.agencies.connectors import load_connectors
from gateway.agencies.resilience import Guards
from gateway.agencies.upstream import HttpxUpstream
from gateway.config import PROJECT_ROOT, Settings
from gateway.metrics import Metrics
from gateway.pipeline.context import Services
from gateway.pipeline.fanout import FanOut
from gateway.pipeline.linkage import FellegiSunterMatcher, NameAliases, load_weights
from gateway.pipeline.policy.engines import EmbeddedEngine
from gateway.pipeline.records import AgencyAnswer, CallContext
from gateway.server.app import build_services
from mocks.population import Child, Population
from mocks.runner import build_all, urls


class Agencies(httpx.AsyncBaseTransport):
    """Every mock agency in process, chosen by the URL's port, with a count of calls to each.

    ``latency_ms`` (low, high) delays each answer by a time drawn uniformly between the two (seeded), so
    answers arrive in the orders real agencies give them.
    """

    def __init__(
        self, pop: Population, base_port: int = 9100, *, latency_ms: tuple[float, float] | None = None
    ) -> None:
        apps = build_all(pop)
        addresses = urls("127.0.0.1", base_port)
        self.by_port = {urlsplit(url).port: httpx.ASGITransport(apps[name]) for name, url in addresses.items()}
        self.names = {urlsplit(url).port: name for name, url in addresses.items()}
        self.base_port = base_port
        self.calls: dict[str, int] = {}
        self.latency_ms = latency_ms
        self._draw = random.Random(pop.seed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        name = self.names[request.url.port or 0]
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.latency_ms is not None:
            await asyncio.sleep(self._draw.uniform(*self.latency_ms) / 1000)
        return await self.by_port[request.url.port or 0].handle_async_request(request)

    def total(self) -> int:
        return sum(self.calls.values())


def fanout(transport: Agencies, *, sequential: frozenset[str], children: int) -> FanOut:
    """A fan-out over the in-process agencies, with the shipped connectors and record linkage; the agencies
    in ``sequential`` look up one lookup after another, the rest all at once."""
    overrides = {a: {"base_url": u} for a, u in urls("127.0.0.1", transport.base_port).items() if a != "directory"}
    connectors = load_connectors([PROJECT_ROOT / "connectors"], overrides, spine="health", development=True)
    metrics = Metrics()
    guards = Guards(metrics)
    upstream = HttpxUpstream(transport=transport)
    clients = {
        agency: AgencyClient(
            agency,
            c.spec.base_url,
            c.headers,
            upstream,
            guards.add(agency, retries=0, backoff_s=0, max_in_flight=64, threshold=1000, reset_s=1),
            decode=c.decode,
        )
        for agency, c in connectors.items()
    }
    matcher = FellegiSunterMatcher(load_weights(), NameAliases.load(), children=children)
    return FanOut(connectors, clients, matcher, metrics, spine="health", sequential=sequential)


async def run_all(
    fan: FanOut, children: Sequence[Child], call: CallContext, *, batch: int = 250
) -> list[dict[str, AgencyAnswer]]:
    """Every child's answers from every agency, ``batch`` children at a time (as a busy gateway would)."""
    agencies = frozenset(fan.connectors)
    deadline = asyncio.get_running_loop().time() + 3600
    out: list[dict[str, AgencyAnswer]] = []
    for start in range(0, len(children), batch):
        group = children[start : start + batch]
        out.extend(await asyncio.gather(*(fan.run(agencies, c.nhs_number, call, deadline) for c in group)))
    return out


@contextlib.asynccontextmanager
async def services(transport: Agencies, settings: Settings, schema: strawberry.Schema) -> AsyncIterator[Services]:
    """Every service as ``build_services`` makes it, over the in-process agencies, with the embedded policy
    loaded; closed afterwards as the app's lifespan closes them. Agencies are at their default ports."""
    engine = EmbeddedEngine()
    built = build_services(settings, schema, upstream=HttpxUpstream(transport=transport), engine=engine)
    await built.policy.load()
    try:
        yield built
    finally:
        await built.notifier.aclose()
        await built.upstream.aclose()
        await engine.aclose()
        await built.cache.aclose()
        await built.guards.aclose()


async def set_faults(transport: Agencies, agency: str, **faults: object) -> None:
    """Set an agency's faults (``mocks.faults.Faults``; none given repairs it) through the mock's admin
    endpoint, as the end-to-end suites do; the admin call is not counted among the agency's calls."""
    url = urls("127.0.0.1", transport.base_port)[agency]
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.put(f"{url}/__admin/faults", json=faults, headers={"x-admin-key": "mock-admin"})
        response.raise_for_status()
    transport.calls[agency] -= 1
