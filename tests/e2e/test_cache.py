"""The directory cache: a real Redis shared by two gateways, and the in-process memory cache.

Only directory data may ever be in either; every key is namespaced and has a TTL; many requests
missing one key make one upstream call, within an instance and across instances."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from gateway.config import Settings
from gateway.dev import PERSONAS
from gateway.dev.tokens import dev_token
from gateway.server.app import create_app
from mocks.population import Population
from support.processes import free_port_block, stop
from support.stack import FULL, Stack, start_gateway

NAMESPACE = "wardgate-test:directory"
SEARCH = """query($name: String!, $dob: Date!) {
  searchChildren(name: $name, dateOfBirth: $dob, purpose: SAFEGUARDING) { id name { given family } } }"""
DIRECTORY = "{ services { id name } schools { urn name postcode } gpPractices { code name } me { id role } }"
PRACTITIONER = "query($id: String!) { practitioner(id: $id) { id name team phone email } }"
ACCESS_LOG = "query($id: ID!) { accessLog(childId: $id) { at kind practitioner } }"


@pytest.fixture(scope="module")
def shared(stack: Stack, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Stack]]:
    """Two gateway instances sharing one Redis cache."""
    procs, stacks = [], []
    for i in range(2):
        workdir = tmp_path_factory.mktemp(f"cache{i}")
        port = free_port_block(1)
        procs.append(
            start_gateway(
                port, stack.agencies, workdir / "audit.jsonl", workdir, cache_url=redis_url, cache_namespace=NAMESPACE
            )
        )
        stacks.append(dataclasses.replace(stack, gateway=f"http://127.0.0.1:{port}", audit=workdir / "audit.jsonl"))
    try:
        yield stacks
    finally:
        for p in procs:
            stop(p)


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def directory_calls(s: Stack, path: str) -> int:
    return sum(1 for c in s.calls("directory") if c["path"] == path)


def personal_data(pop: Population) -> list[str]:
    """Strings that identify a child: NHS numbers, full names, dates of birth, first address lines.
    (A child who shares a full name with a practitioner is left out: the directory rightly holds that name.)"""
    staff = {p.name for p in pop.practitioners.values()}
    out: list[str] = []
    for c in pop.children:
        out += [c.nhs_number, c.dob.isoformat(), c.address.line1]
        if f"{c.given} {c.family}" not in staff:
            out.append(f"{c.given} {c.family}")
    return out


def assert_well_formed(out: dict) -> None:
    """The workload's queries are valid: only policy and access outcomes, never a malformed request."""
    bad = [e for e in out.get("errors", []) if e["extensions"]["code"] in ("BAD_REQUEST", "INTERNAL")]
    assert bad == [], bad


def workload(post) -> None:  # type: ignore[no-untyped-def]
    """Every persona, every kind of query, over children of every kind."""
    pop = post.pop
    kinds = ["ordinary", "on-plan", "police-known", "refuge", "shielded", "looked-after", "weak-match"]
    children = [next(pop.of_kind(k)) for k in kinds if any(True for _ in pop.of_kind(k))]
    staff = list(pop.practitioners)[:3]
    for persona in PERSONAS:
        for child in children[:3]:
            post(FULL, persona.name, id=child.nhs_number)
        child = children[0]
        post(SEARCH, persona.name, name=f"{child.given} {child.family}", dob=child.dob.isoformat())
        post(DIRECTORY, persona.name)
        for pid in staff:
            post(PRACTITIONER, persona.name, id=pid)
        post(PRACTITIONER, persona.name, id=child.nhs_number)  # typed in the wrong box: not found, not cached
        post(ACCESS_LOG, persona.name, id=child.nhs_number)  # FORBIDDEN but for the auditor


def test_many_requests_missing_one_key_make_one_directory_call_across_instances(
    shared: list[Stack], store: redis.Redis
) -> None:
    a, b = shared
    a.clear_calls()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(lambda i: (a if i % 2 else b).query("{ services { id } }"), range(16)))
    assert all(len(o["data"]["services"]) > 0 for o in outs)
    assert directory_calls(a, "/directory/services") == 1


def test_entries_are_namespaced_and_expire(shared: list[Stack], store: redis.Redis) -> None:
    a, _ = shared
    a.query("{ schools { urn } gpPractices { code } }")
    keys = sorted(k.decode() for k in store.scan_iter())
    assert keys == [
        f"{NAMESPACE}:Query.gpPractices:/directory/gp-practices",
        f"{NAMESPACE}:Query.schools:/directory/schools",
    ]
    for key in keys:
        assert 0 < store.ttl(key) <= 300


def test_a_short_ttl_means_the_directory_is_asked_again(
    stack: Stack, redis_url: str, store: redis.Redis, tmp_path: Path
) -> None:
    port = free_port_block(1)
    proc = start_gateway(port, stack.agencies, tmp_path / "a.jsonl", tmp_path, cache_url=redis_url, directory_ttl_s="1")
    try:
        s = dataclasses.replace(stack, gateway=f"http://127.0.0.1:{port}")
        s.clear_calls()
        s.query("{ services { id } }")
        s.query("{ services { id } }")
        assert directory_calls(s, "/directory/services") == 1
        time.sleep(1.3)
        s.query("{ services { id } }")
        assert directory_calls(s, "/directory/services") == 2
    finally:
        stop(proc)


def test_a_mixed_workload_leaves_no_child_data_in_redis(shared: list[Stack], store: redis.Redis) -> None:
    a, b = shared

    def post(query: str, persona: str = "social-worker", **variables: object) -> None:
        for s in (a, b):
            assert_well_formed(s.query(query, persona, **variables))

    post.pop = a.pop  # type: ignore[attr-defined]
    workload(post)
    keys = [k.decode() for k in store.scan_iter()]
    assert keys, "the directory queries should have filled the cache"
    allowed = ("Query.services:", "Query.schools:", "Query.gpPractices:", "Query.practitioner:")
    assert all(k.startswith(f"{NAMESPACE}:") and k.removeprefix(f"{NAMESPACE}:").startswith(allowed) for k in keys)
    everything = "\n".join(keys) + "\n" + b"\n".join(store.get(k) or b"" for k in keys).decode()
    found = [p for p in personal_data(a.pop) if p in everything]
    assert found == []


async def test_a_mixed_workload_leaves_no_child_data_in_the_memory_cache(stack: Stack, tmp_path: Path) -> None:
    settings = Settings(
        agency_urls={k: v for k, v in stack.agencies.items() if k != "directory"},
        directory_url=stack.agencies["directory"],
        audit_path=tmp_path / "audit.jsonl",
        policy_watch=False,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        calls: list[tuple[str, str, dict]] = []

        def post(query: str, persona: str = "social-worker", **variables: object) -> None:
            calls.append((query, persona, variables))

        post.pop = stack.pop  # type: ignore[attr-defined]
        workload(post)
        for query, persona, variables in calls:
            token = dev_token(persona, mfa=True)
            r = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 200
            assert_well_formed(r.json())
        entries = app.state.services.cache.backend._cache  # aiocache's SimpleMemoryCache: key -> serialized value
        assert entries
        assert all(k.startswith("wardgate:directory:Query.") for k in entries)
        everything = "\n".join(f"{k}\n{v}" for k, v in entries.items())
        assert [p for p in personal_data(stack.pop) if p in everything] == []
        assert orjson.loads(next(iter(entries.values())))  # JSON, as in Redis


def test_the_cache_being_down_costs_speed_not_answers(stack: Stack, tmp_path: Path) -> None:
    dead = free_port_block(1)  # nothing listens here
    port = free_port_block(1)
    proc = start_gateway(port, stack.agencies, tmp_path / "a.jsonl", tmp_path, cache_url=f"redis://127.0.0.1:{dead}/0")
    try:
        s = dataclasses.replace(stack, gateway=f"http://127.0.0.1:{port}")
        assert len(s.query("{ services { id } }")["data"]["services"]) > 0
        ready = httpx.get(s.gateway + "/readyz", timeout=5).json()
        assert ready["ready"] and ready["cache"] == "redis unreachable"
    finally:
        stop(proc)
