"""Guards, cache gating and limits, in-process (the end-to-end suite shows the same over real HTTP)."""

from __future__ import annotations

import asyncio

import pytest
import strawberry
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.agencies.cache import DirectoryCache, open_backend
from gateway.agencies.resilience import CircuitOpen, Guards
from gateway.config import Settings
from gateway.errors import AgencyBadResponse, AgencyUnavailable, ConfigError
from gateway.graphql.labels import cacheable_fields, field_table
from gateway.graphql.schema import directory, identity
from gateway.metrics import Metrics
from gateway.server.app import build_schema
from support.processes import free_port_block

EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(_provider)


@strawberry.type
class Clinic:
    name: str = directory()
    next_patient: str = identity()  # one non-directory field makes the whole type uncacheable


@strawberry.type
class Root:
    clinics: list[Clinic] = directory(default_factory=list)
    hours: str = directory(default="9-5")


def guard(**policy: object):  # type: ignore[no-untyped-def]
    defaults = {"retries": 0, "backoff_s": 0.001, "max_in_flight": 64, "threshold": 2, "reset_s": 0.2}
    return Guards(Metrics()).add("camhs", **{**defaults, **policy})


def deadline(seconds: float = 2.0) -> float:
    return asyncio.get_running_loop().time() + seconds


async def failing(_: float) -> None:
    raise AgencyUnavailable("camhs", "down")


async def test_half_open_lets_exactly_one_probe_through() -> None:
    g = guard()
    for _ in range(2):
        with pytest.raises(AgencyUnavailable):
            await g.call(failing, deadline())
    assert await g.state() == "opened"
    await asyncio.sleep(0.25)
    started = 0

    async def slow_ok(_: float) -> str:
        nonlocal started
        started += 1
        await asyncio.sleep(0.05)
        return "ok"

    results = await asyncio.gather(*(g.call(slow_ok, deadline()) for _ in range(5)), return_exceptions=True)
    assert started == 1
    assert results.count("ok") == 1
    assert sum(isinstance(r, CircuitOpen) for r in results) == 4
    assert await g.state() == "closed"
    assert await g.call(slow_ok, deadline()) == "ok"


async def test_a_bad_response_is_not_an_outage() -> None:
    g = guard(threshold=1)

    async def garbled(_: float) -> None:
        raise AgencyBadResponse("camhs", "garbled")

    for _ in range(3):
        with pytest.raises(AgencyBadResponse):
            await g.call(garbled, deadline())
    assert await g.state() == "closed"


async def test_retries_stop_at_the_deadline() -> None:
    g = guard(retries=5, backoff_s=0.2, threshold=100)
    attempts = 0

    async def counting(_: float) -> None:
        nonlocal attempts
        attempts += 1
        raise AgencyUnavailable("camhs", "down")

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AgencyUnavailable):
        await g.call(counting, deadline(0.3))
    assert loop.time() - started < 0.3
    assert 1 <= attempts < 6


async def test_each_attempt_is_a_span() -> None:
    EXPORTER.clear()
    g = guard()

    async def ok(_: float) -> str:
        return "ok"

    await g.call(ok, deadline())
    spans = EXPORTER.get_finished_spans()
    assert [s.name for s in spans] == ["wardgate.agency.call"]
    assert spans[0].attributes == {"wardgate.agency": "camhs"}


async def test_with_the_shared_breaker_store_down_calls_go_on_and_breakers_work_per_process() -> None:
    dead = f"redis://127.0.0.1:{free_port_block(1)}/0"  # nothing listens there
    guards = Guards(Metrics(), store_url=dead)
    g = guards.add("camhs", retries=0, backoff_s=0.001, max_in_flight=64, threshold=2, reset_s=60)

    async def ok(_: float) -> str:
        return "ok"

    assert await g.call(ok, deadline()) == "ok"
    for _ in range(2):
        with pytest.raises(AgencyUnavailable) as failed:
            await g.call(failing, deadline())
        assert not isinstance(failed.value, CircuitOpen)
    with pytest.raises(CircuitOpen):
        await g.call(ok, deadline())
    assert guards.store() == "redis unreachable (per process)"


def test_only_fields_labelled_directory_throughout_are_cacheable() -> None:
    from gateway.graphql.schema import Child
    from resolvers import Query

    schema = build_schema(Settings())
    table = field_table(schema, (Query, Child))
    assert cacheable_fields(table, Query) == {
        "Query.services",
        "Query.schools",
        "Query.gpPractices",
        "Query.practitioner",
    }

    mixed = strawberry.Schema(query=Root)
    assert cacheable_fields(field_table(mixed, (Root,)), Root) == {"Root.hours"}


async def test_the_cache_refuses_anything_not_cacheable() -> None:
    cache = DirectoryCache(open_backend("memory://", "t"), frozenset({"Query.services"}), 60, Metrics())

    async def fetch() -> dict:
        return {"items": []}

    with pytest.raises(ConfigError, match=r"Query\.child"):
        await cache.get_or_fetch("Query.child", "/x", fetch)
    assert await cache.get_or_fetch("Query.services", "/s", fetch) == {"items": []}


def test_introspection_is_off_in_production_by_default() -> None:
    from gateway.graphql.limits import NoIntrospection, limit_extensions

    def rules(settings: Settings) -> list[type]:
        return [r for f in limit_extensions(settings) for r in getattr(f(), "validation_rules", [])]

    assert NoIntrospection in rules(Settings(mode="production", search_hmac_key="k" * 32))
    assert NoIntrospection not in rules(Settings())
    assert NoIntrospection in rules(Settings(introspection=False))


def test_a_bad_cache_url_stops_start_up() -> None:
    with pytest.raises(ConfigError):
        open_backend("memcached://x", "t")
    with pytest.raises(ConfigError):
        open_backend("redis://127.0.0.1:6379/zero", "t")
