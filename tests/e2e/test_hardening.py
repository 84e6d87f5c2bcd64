"""Production hardening over real HTTP: breakers, retries, in-flight caps, limits, trusted documents,
metrics and readiness. Each test runs its own gateway (so breaker state and settings are its own) over
the session's mock agencies."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import re
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from gateway.dev.tokens import dev_token
from gateway.graphql.limits import document_id
from support.processes import free_port_block, stop
from support.stack import FULL, Stack, codes, plain, start_gateway

SOURCES = """query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) {
  id mentalHealth { referrals { status } } sources { agency status } } }"""


@pytest.fixture
def own_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[callable]:  # type: ignore[valid-type]
    """Start gateways with extra settings; each is stopped after the test."""
    started = []

    def make(**settings: str) -> Stack:
        workdir = tmp_path_factory.mktemp("hardening")
        port = free_port_block(1)
        proc = start_gateway(port, stack.agencies, workdir / "audit.jsonl", workdir, **settings)
        started.append(proc)
        return dataclasses.replace(
            stack, gateway=f"http://127.0.0.1:{port}", audit=workdir / "audit.jsonl", operator=proc.operator
        )

    yield make
    for proc in started:
        stop(proc)


def statuses(out: dict) -> dict[str, str]:
    return {s["agency"]: s["status"] for s in out["data"]["child"]["sources"]}


def camhs_calls(s: Stack) -> int:
    return sum(1 for c in s.calls("camhs") if c["path"].startswith("/camhs/"))


def metric(s: Stack, name: str, **labels: str) -> float:
    text = httpx.get(s.operator + "/metrics", timeout=5).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}{{{re.escape(want)}}} (\S+)$" if want else rf"^{re.escape(name)} (\S+)$")
    for line in text.splitlines():
        m = pattern.match(line)
        if m:
            return float(m.group(1))
    raise AssertionError(f"{name}{{{want}}} not in /metrics")


def test_an_agency_that_fails_opens_its_circuit_then_recovers(own_gateway, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    s = own_gateway(breaker_threshold="3", breaker_reset_s="1", agency_retries="0")
    child = plain(s)
    s.faults("camhs", {"error_rate": 1.0})
    for _ in range(3):
        assert statuses(s.query(SOURCES, id=child.nhs_number))["camhs"] == "unavailable"
    assert metric(s, "wardgate_agency_circuit_state", agency="camhs") == 2
    s.clear_calls()
    out = s.query(SOURCES, id=child.nhs_number)
    assert statuses(out)["camhs"] == "circuit-open"
    assert statuses(out)["health"] == "ok"  # the rest of the answer still comes
    assert out["data"]["child"]["id"] == child.nhs_number
    assert camhs_calls(s) == 0, "an open circuit must not call the agency"
    assert metric(s, "wardgate_agency_circuit_rejections_total", agency="camhs") >= 1

    s.faults("camhs", {})  # the agency recovers
    time.sleep(1.2)  # past the reset time: the next call is the half-open probe
    assert statuses(s.query(SOURCES, id=child.nhs_number))["camhs"] == "ok"
    assert camhs_calls(s) == 1
    assert metric(s, "wardgate_agency_circuit_state", agency="camhs") == 0
    assert statuses(s.query(SOURCES, id=child.nhs_number))["camhs"] == "ok"


def test_a_failed_probe_reopens_the_circuit(own_gateway) -> None:  # type: ignore[no-untyped-def]
    s = own_gateway(breaker_threshold="2", breaker_reset_s="1", agency_retries="0")
    child = plain(s)
    s.faults("camhs", {"error_rate": 1.0})
    for _ in range(2):
        s.query(SOURCES, id=child.nhs_number)
    time.sleep(1.2)
    s.clear_calls()
    assert statuses(s.query(SOURCES, id=child.nhs_number))["camhs"] == "unavailable"  # the probe, failed
    assert statuses(s.query(SOURCES, id=child.nhs_number))["camhs"] == "circuit-open"
    assert camhs_calls(s) == 1


def test_failed_reads_are_retried_within_the_deadline(own_gateway) -> None:  # type: ignore[no-untyped-def]
    s = own_gateway(agency_retries="2", agency_backoff_ms="10", breaker_threshold="50")
    child = plain(s)
    s.faults("camhs", {"error_rate": 1.0})
    s.clear_calls()
    assert statuses(s.query(SOURCES, id=child.nhs_number))["camhs"] == "unavailable"
    assert camhs_calls(s) == 3  # one call and two retries
    assert metric(s, "wardgate_agency_retries_total", agency="camhs") == 2

    # An agency that hangs uses up the request's deadline: no retry is started without time for it.
    s.faults("camhs", {"timeout_rate": 1.0, "hang_seconds": 5})
    s.clear_calls()
    started = time.monotonic()
    assert statuses(s.query(SOURCES, id=child.nhs_number))["camhs"] == "timeout"
    assert time.monotonic() - started < 3.0
    assert camhs_calls(s) <= 2


def test_calls_in_flight_to_one_agency_are_capped(own_gateway) -> None:  # type: ignore[no-untyped-def]
    s = own_gateway(agency_max_in_flight="2")
    children = [c for c in s.pop.of_kind("ordinary")][:8]
    s.faults("camhs", {"latency": {"kind": "fixed", "ms": 60}})
    s.clear_calls()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda c: s.query(SOURCES, id=c.nhs_number), children))
    assert all(statuses(o)["camhs"] == "ok" for o in outs)
    calls = [c for c in s.calls("camhs") if c["path"].startswith("/camhs/")]
    assert len(calls) == 8
    # The most calls the agency was serving at once (from its own log; earlier tests' hung calls aside).
    edges = sorted([(c["started"], 1) for c in calls] + [(c["ended"], -1) for c in calls])
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    assert peak == 2


def test_a_query_bomb_is_refused_before_any_agency_is_called(stack: Stack) -> None:
    child = plain(stack)
    body = FULL.split("{", 1)[1].rsplit("}", 1)[0].split("(", 1)[1]  # the child(...) { ... } selection
    bomb = (
        "query($id: ID!) {" + " ".join(f"c{i}: child({body}" for i in range(5)) + "}"
    )  # 5 full profiles: few tokens, high cost
    tokens = "{ me { " + "id " * 2500 + "} }"
    since = time.monotonic()  # the mocks log calls by the same (system-wide) monotonic clock
    started = time.perf_counter()
    out = stack.query(bomb, id=child.nhs_number)
    elapsed = time.perf_counter() - started
    assert out["data"] is None
    assert codes(out) == ["QUERY_TOO_COMPLEX"]
    assert out["errors"][0]["extensions"]["cost"] > out["errors"][0]["extensions"]["maxCost"]
    assert codes(stack.query(tokens)) == ["QUERY_TOO_COMPLEX"]
    aliases = "{" + " ".join(f"a{i}: me {{ id }}" for i in range(40)) + "}"
    assert codes(stack.query(aliases)) == ["QUERY_TOO_COMPLEX"]
    late = [c for a in stack.agencies for c in stack.calls(a) if c["started"] >= since]
    assert late == [], "no agency may be called for a refused query"
    assert elapsed < 1.0  # refused at validation, not after a fan-out


def test_request_bodies_over_the_limit_are_refused(own_gateway) -> None:  # type: ignore[no-untyped-def]
    stack = own_gateway(max_body_bytes="4096")
    token = dev_token("social-worker", mfa=True)
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    padding = "#" + "x" * 5000 + "\n"
    big = orjson.dumps({"query": padding + "{ me { id } }"})
    r = httpx.post(stack.gateway + "/graphql", content=big, headers=headers, timeout=10)
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"

    def chunks() -> Iterator[bytes]:  # no content-length: counted as it arrives
        for i in range(0, len(big), 1024):
            yield big[i : i + 1024]

    r = httpx.post(stack.gateway + "/graphql", content=chunks(), headers=headers, timeout=10)
    assert r.status_code == 413
    r = httpx.get(stack.gateway + "/graphql", params={"query": padding + "{ me { id } }"}, headers=headers)
    assert r.status_code == 414
    assert r.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    ok = httpx.post(stack.gateway + "/graphql", json={"query": "{ me { id } }"}, headers=headers, timeout=10)
    assert ok.json()["data"]["me"]["id"]


def test_introspection_can_be_turned_off(own_gateway, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    assert stack.query("{ __schema { queryType { name } } }")["data"]["__schema"]["queryType"]["name"] == "Query"
    s = own_gateway(introspection="false")
    out = s.query("{ __schema { types { name } } }")
    assert codes(out) == ["INTROSPECTION_DISABLED"] and out["data"] is None
    assert codes(s.query('{ __type(name: "Child") { name } }')) == ["INTROSPECTION_DISABLED"]
    assert s.query("{ me { __typename id } }")["data"]["me"]["__typename"] == "Me"


def test_trusted_documents_mode_runs_only_registered_documents(own_gateway, stack: Stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    registered = "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { id name { given } } }"
    manifest = tmp_path / "documents.json"
    manifest.write_bytes(orjson.dumps({document_id(registered): registered}))
    s = own_gateway(trusted_documents="require", trusted_documents_path=str(manifest))
    child = plain(s)
    token = dev_token("social-worker", mfa=True)

    def post(body: dict) -> dict:
        r = httpx.post(s.gateway + "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        return orjson.loads(r.content)

    by_id = post({"documentId": document_id(registered), "variables": {"id": child.nhs_number}})
    assert by_id["data"]["child"]["id"] == child.nhs_number
    apollo = {"persistedQuery": {"version": 1, "sha256Hash": document_id(registered).removeprefix("sha256:")}}
    assert post({"extensions": apollo, "variables": {"id": child.nhs_number}})["data"]["child"]["id"]
    assert post({"query": registered, "variables": {"id": child.nhs_number}})["data"]["child"]["id"]
    get = httpx.get(
        s.gateway + "/graphql",
        params={"documentId": document_id(registered), "variables": orjson.dumps({"id": child.nhs_number}).decode()},
        headers={"Authorization": f"Bearer {token}", "accept": "application/json"},
    )
    assert get.json()["data"]["child"]["id"] == child.nhs_number

    since = time.monotonic()
    other = "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { id name { given family } } }"
    for body in (
        {"query": other, "variables": {"id": child.nhs_number}},
        {"documentId": "sha256:" + "0" * 64, "variables": {"id": child.nhs_number}},
        {"documentId": document_id(registered), "query": other, "variables": {"id": child.nhs_number}},
    ):
        out = post(body)
        assert codes(out) == ["DOCUMENT_NOT_TRUSTED"] and out["data"] is None
    assert [c for a in s.agencies for c in s.calls(a) if c["started"] >= since] == []


def test_metrics_cover_agencies_policy_cache_and_audit(stack: Stack) -> None:
    child = plain(stack)
    stack.query(FULL, id=child.nhs_number)
    stack.query("{ services { id } }")
    stack.query("{ services { id } }")
    assert metric(stack, "wardgate_agency_call_seconds_count", agency="health", outcome="ok") >= 1
    assert metric(stack, "wardgate_agency_circuit_state", agency="police") == 0
    assert metric(stack, "wardgate_cache_requests_total", result="hit") >= 1
    assert metric(stack, "wardgate_policy_decisions_total", action="allow", cached="false") >= 1
    assert metric(stack, "wardgate_audit_write_seconds_count") >= 1
    text = httpx.get(stack.operator + "/metrics").text
    assert child.nhs_number not in text and child.family not in text


def test_readiness_reports_agencies_and_needs_the_spine(own_gateway) -> None:  # type: ignore[no-untyped-def]
    s = own_gateway()
    r = httpx.get(s.gateway + "/readyz", timeout=5)
    body = r.json()
    assert r.status_code == 200 and body["ready"]
    assert body["agencies"] == {a: "reachable" for a in s.agencies if a != "directory"}
    assert body["checks"] == {"policy": True, "audit": True, "spine": True}
    s.faults("camhs", {"error_rate": 1.0})
    time.sleep(2.1)  # readiness results are kept for 2 s
    body = httpx.get(s.gateway + "/readyz", timeout=5).json()
    assert body["ready"] and body["agencies"]["camhs"] == "unreachable"
    s.faults("health", {"error_rate": 1.0})
    time.sleep(2.1)
    r = httpx.get(s.gateway + "/readyz", timeout=5)
    assert r.status_code == 503 and r.json()["checks"]["spine"] is False
