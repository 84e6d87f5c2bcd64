"""Scale-out behind a real load balancer: nginx round-robins to two gateway instances on loopback, which share
one Redis for the directory cache, the rate-limit windows and the circuit breakers, and write one audit chain
each into one directory.

What a user would notice: directory data fetched once for both, a practitioner's quota holding across them, an
agency that is down found out once, every answered request in the audit trail — and, when one instance is killed
mid-load, no answer that was not audited and no request that vanished without an error the client saw."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from gateway.agencies.resilience import CircuitOpen, Guards
from gateway.dev.tokens import dev_token
from gateway.errors import AgencyUnavailable
from gateway.metrics import Metrics
from gateway.pipeline.audit import AuditTrail, verify_trail
from support.processes import ROOT, free_port_block, nginx_server, stop
from support.stack import FULL, Stack, codes, plain, start_gateway

CHILD = (
    "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { id name { given family } sources { agency status } } }"
)
SEARCH = """query($name: String!, $dob: Date!) {
  searchChildren(name: $name, dateOfBirth: $dob, purpose: SAFEGUARDING) { id } }"""
THRESHOLD = 4  # the pair's breaker threshold (one attempt per call: retries off)


@dataclasses.dataclass
class Balanced:
    """nginx in front of two instances: ``stack.gateway`` is nginx."""

    stack: Stack
    instances: dict[str, subprocess.Popen[str]]  # instance name -> its process
    ports: dict[str, int]
    nginx_dir: Path

    @property
    def trail(self) -> AuditTrail:
        return AuditTrail.at(self.stack.audit)

    def answered_by(self) -> Counter[str]:
        """How many requests each instance answered, from nginx's access log."""
        names = {f"127.0.0.1:{port}": name for name, port in self.ports.items()}
        lines = (self.nginx_dir / "access.log").read_text().splitlines()
        return Counter(names.get(line.split()[0], "other") for line in lines)


def balanced_pair(stack: Stack, redis_url: str, workdir: Path, dbs: tuple[int, int], **extra: str) -> Balanced:
    """Two instances sharing Redis (cache in db 0 under its own namespace, rate limits and breakers in ``dbs``),
    one audit directory, behind nginx."""
    host = redis_url.rsplit("/", 1)[0]
    for db in dbs:
        redis.Redis.from_url(f"{host}/{db}").flushdb()
    audit = workdir / "audit"
    shared = {
        "cache_url": redis_url,
        "cache_namespace": f"wardgate-{workdir.name}:directory",
        "rate_limit_storage": f"async+{host}/{dbs[0]}",
        "breaker_url": f"{host}/{dbs[1]}",
        **extra,
    }
    procs, ports = {}, {}
    for name in ("gw-a", "gw-b"):
        ports[name] = free_port_block(1)
        procs[name] = start_gateway(ports[name], stack.agencies, audit, workdir, instance=name, **shared)
    lb_port = free_port_block(1)
    nginx = nginx_server(lb_port, [f"127.0.0.1:{p}" for p in ports.values()], workdir / "nginx")
    procs["nginx"] = nginx
    front = dataclasses.replace(stack, gateway=f"http://127.0.0.1:{lb_port}", audit=audit)
    return Balanced(front, procs, ports, workdir / "nginx")


@pytest.fixture(scope="module")
def pair(stack: Stack, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Balanced]:
    b = balanced_pair(
        stack,
        redis_url,
        tmp_path_factory.mktemp("scale"),
        (1, 2),
        search_rate="6/minute",
        breaker_threshold=str(THRESHOLD),
        breaker_reset_s="3",
        agency_retries="0",
    )
    try:
        yield b
    finally:
        for proc in b.instances.values():
            stop(proc)


def post(url: str, query: str, persona: str = "social-worker", request_id: str | None = None, **variables: object):
    headers = {"Authorization": f"Bearer {dev_token(persona, mfa=True)}"}
    if request_id:
        headers["X-Request-Id"] = request_id
    return httpx.post(url + "/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=30)


def test_directory_data_is_fetched_once_for_both_instances(pair: Balanced) -> None:
    s = pair.stack
    s.clear_calls()
    before = pair.answered_by()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda _: s.query("{ services { id } gpPractices { code } }"), range(24)))
    assert all(o["data"]["services"] and o["data"]["gpPractices"] for o in outs)
    served = pair.answered_by() - before
    assert served["gw-a"] > 0 and served["gw-b"] > 0
    paths = Counter(c["path"] for c in s.calls("directory"))
    assert paths == {"/directory/services": 1, "/directory/gp-practices": 1}


def test_a_practitioners_search_quota_holds_across_instances(pair: Balanced) -> None:
    s = pair.stack
    child = plain(s)
    before = pair.answered_by()
    outcomes = []
    for _ in range(10):
        out = s.query(SEARCH, "gp", name=f"{child.given} {child.family}", dob=child.dob.isoformat())
        outcomes.append("limited" if "RATE_LIMITED" in codes(out) else "answered")
    served = pair.answered_by() - before
    assert served["gw-a"] == served["gw-b"] == 5  # round robin: each instance alone would have allowed all 5
    assert outcomes == ["answered"] * 6 + ["limited"] * 4


def test_every_answered_child_request_is_in_the_audit_trail(pair: Balanced) -> None:
    s = pair.stack
    children = [c for c in s.pop.of_kind("ordinary")][:40]
    ids = [f"scale-audit-{i}" for i in range(len(children))]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda i: post(s.gateway, CHILD, request_id=ids[i], id=children[i].nhs_number), range(len(ids)))
        )
    assert all(r.status_code == 200 and r.json()["data"]["child"] for r in responses)
    records = {r["requestId"]: r for r in pair.trail.records(type="child.read")}
    assert set(ids) <= set(records)
    assert {records[i]["childId"] for i in ids} == {c.nhs_number for c in children}
    chains = {chain.name for chain in pair.trail.chains()}
    assert chains == {"gw-a.jsonl", "gw-b.jsonl"}
    assert all(ok for _, ok, _ in verify_trail(pair.trail))
    who = subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "--file", str(s.audit), "who-viewed", children[0].nhs_number],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ids[0] in who.stdout


def test_an_agency_that_is_down_is_found_out_once_for_both_instances(pair: Balanced) -> None:
    s = pair.stack
    child = plain(s)
    s.faults("camhs", {"error_rate": 1.0})
    s.clear_calls()
    before = pair.answered_by()
    statuses = []
    for _ in range(12):
        out = s.query(FULL, id=child.nhs_number)
        statuses.append({x["agency"]: x["status"] for x in out["data"]["child"]["sources"]}.get("camhs"))
    served = pair.answered_by() - before
    assert served["gw-a"] == served["gw-b"] == 6
    # Four failures in all open the circuit for both; per instance, each would have made four of its own.
    assert len(s.calls("camhs")) == THRESHOLD
    assert statuses[THRESHOLD:] == ["circuit-open"] * (12 - THRESHOLD)
    ready = httpx.get(f"http://127.0.0.1:{pair.ports['gw-b']}/readyz", timeout=5).json()
    assert ready["breakers"] == ready["rateLimits"] == ready["cache"] == "redis reachable"


def test_several_workers_start_with_every_redis_option_the_readme_names(
    stack: Stack, redis_url: str, tmp_path: Path
) -> None:
    # `wardgate run --workers 2` with shared rate limits used to stop at start-up asking for coredis.
    host = redis_url.rsplit("/", 1)[0]
    redis.Redis.from_url(f"{host}/5").flushdb()
    port = free_port_block(1)
    proc = start_gateway(
        port,
        stack.agencies,
        tmp_path / "audit",
        tmp_path,
        workers="2",
        cache_url=redis_url,
        rate_limit_storage=f"async+{host}/5",
        breaker_url=f"{host}/6",
        search_rate="4/minute",
    )
    try:
        s = dataclasses.replace(stack, gateway=f"http://127.0.0.1:{port}")
        ready = httpx.get(s.gateway + "/readyz", timeout=5).json()
        assert ready["ready"]
        assert ready["cache"] == ready["breakers"] == ready["rateLimits"] == "redis reachable"
        child = plain(s)
        limited = [
            "RATE_LIMITED"
            in codes(s.query(SEARCH, "teacher", name=f"{child.given} {child.family}", dob=child.dob.isoformat()))
            for _ in range(8)
        ]
        assert limited == [False] * 4 + [True] * 4
    finally:
        stop(proc)


async def test_after_the_reset_one_instance_probes_the_agency_not_each(redis_url: str) -> None:
    host = redis_url.rsplit("/", 1)[0]
    redis.Redis.from_url(f"{host}/7").flushdb()
    policy = {"retries": 0, "backoff_s": 0.001, "max_in_flight": 64, "threshold": 2, "reset_s": 0.3}
    guards = [Guards(Metrics(), store_url=f"{host}/7") for _ in range(3)]  # three instances' guards
    camhs = [g.add("camhs", **policy) for g in guards]
    deadline = asyncio.get_running_loop().time() + 5
    calls = 0

    async def down(_: float) -> None:
        nonlocal calls
        calls += 1
        raise AgencyUnavailable("camhs", "down")

    async def back(_: float) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return "ok"

    for guard in camhs[:2]:  # one failure each: together they reach the threshold
        with pytest.raises(AgencyUnavailable):
            await guard.call(down, deadline)
    for guard in guards:
        await asyncio.gather(*(g.adopt() for g in guard.guards.values()))
    assert [await g.state() for g in camhs] == ["opened"] * 3 and calls == 2
    await asyncio.sleep(0.35)
    calls = 0
    results = await asyncio.gather(*(g.call(back, deadline) for g in camhs * 3), return_exceptions=True)
    assert calls == 1 and results.count("ok") == 1
    assert all(isinstance(r, CircuitOpen) for r in results if r != "ok")
    for guard in guards:
        await guard.aclose()


def test_with_redis_down_every_answer_still_comes_and_readyz_says_so(stack: Stack, tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port_block(1)}"  # nothing listens there
    port = free_port_block(1)
    proc = start_gateway(
        port,
        stack.agencies,
        tmp_path / "audit",
        tmp_path,
        cache_url=f"{dead}/0",
        rate_limit_storage=f"async+{dead}/1",
        breaker_url=f"{dead}/2",
        search_rate="3/minute",
    )
    try:
        s = dataclasses.replace(stack, gateway=f"http://127.0.0.1:{port}")
        child = plain(s)
        assert s.query(FULL, id=child.nhs_number)["data"]["child"]["id"] == child.nhs_number
        assert s.query("{ services { id } }")["data"]["services"]
        limited = [
            "RATE_LIMITED"
            in codes(s.query(SEARCH, "gp", name=f"{child.given} {child.family}", dob=child.dob.isoformat()))
            for _ in range(4)
        ]
        assert limited == [False, False, False, True]  # counted in this worker's own window
        ready = httpx.get(s.gateway + "/readyz", timeout=5).json()
        assert ready["ready"]
        assert (ready["cache"], ready["rateLimits"], ready["breakers"]) == (
            "redis unreachable",
            "redis unreachable",
            "redis unreachable (per process)",
        )
        log = Path(proc.log.name).read_text()  # type: ignore[attr-defined]
        assert "circuit-breaker store unreachable" in log and "shared rate-limit windows unreachable" in log
    finally:
        stop(proc)


@pytest.fixture
def doomed(stack: Stack, redis_url: str, tmp_path: Path) -> Iterator[Balanced]:
    b = balanced_pair(stack, redis_url, tmp_path, (3, 4))
    try:
        yield b
    finally:
        for proc in b.instances.values():
            stop(proc)


def test_killing_an_instance_mid_load_loses_no_audit_record_and_no_request_silently(doomed: Balanced) -> None:
    s = doomed.stack
    children = [c.nhs_number for c in s.pop.of_kind("ordinary")][:200]
    outcomes: list[tuple[str, float, int | None, bytes]] = []  # request id, when sent, status (None: no answer), body
    stopping = threading.Event()
    lock = threading.Lock()

    def client(n: int) -> None:
        token = dev_token("social-worker", mfa=True)
        with httpx.Client(timeout=15) as http:
            i = 0
            while not stopping.is_set():
                rid, sent = f"kill-{n}-{i}", time.monotonic()
                body = {"query": CHILD, "variables": {"id": children[(n * 37 + i) % len(children)]}}
                try:
                    r = http.post(
                        s.gateway + "/graphql",
                        json=body,
                        headers={"Authorization": f"Bearer {token}", "X-Request-Id": rid},
                    )
                    result: tuple[str, float, int | None, bytes] = (rid, sent, r.status_code, r.content)
                except httpx.HTTPError as exc:  # the client saw it: a transport error is an error too
                    result = (rid, sent, None, repr(exc).encode())
                with lock:
                    outcomes.append(result)
                i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(2.0)
    doomed.instances["gw-a"].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    time.sleep(2.5)
    stopping.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a request hung: the client never heard back"

    audited = {r["requestId"] for r in doomed.trail.records(type="child.read")}
    answered = [
        (rid, sent) for rid, sent, status, body in outcomes if status == 200 and orjson.loads(body)["data"]["child"]
    ]
    refused = [(status, body[:80]) for _, _, status, body in outcomes if status != 200]
    # Every answer with data was audited first: its record is in one of the two chains.
    assert [rid for rid, _ in answered if rid not in audited] == []
    # Whatever was not answered was an error the client saw: nginx's 502 for requests cut off on the dead instance.
    assert all(status in (502, 504) for status, _ in refused), refused
    assert len(refused) <= 8  # at most the requests in flight on the killed instance
    # The survivor took over: answers kept coming after the kill, and the killed instance's chain still verifies.
    assert sum(1 for _, sent in answered if sent > killed_at + 0.5) > 20
    assert len(answered) + len(refused) == len(outcomes) > 100
    results = verify_trail(doomed.trail)
    assert [chain.name for chain, _, _ in results] == ["gw-a.jsonl", "gw-b.jsonl"]
    assert all(ok for _, ok, _ in results), results
    assert started < killed_at
