"""Who is asking and why, over real HTTP: token attacks, purpose, break-glass, rate limits, the audit trail."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest

from gateway.dev.tokens import dev_token
from gateway.pipeline.audit import verify
from support.processes import free_port_block, stop
from support.stack import FULL, Stack, codes, plain, start_gateway
from support.tokens import ATTACKS

Q = """query($id: ID!, $purpose: Purpose, $bg: String) { child(id: $id, purpose: $purpose, breakGlass: $bg) {
  id name { family } address { postcode } } }"""
SEARCH = """query($n: String!, $d: Date) { searchChildren(name: $n, dateOfBirth: $d, purpose: SAFEGUARDING) { id } }"""
LOG = """query($id: ID!) { accessLog(childId: $id) { at kind practitioner role purpose breakGlass fieldsReturned
  fieldsWithheld { path reason } } }"""
WHY = "Police called at 02:00; child reported missing from home overnight"


@pytest.fixture(scope="module")
def secure(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A gateway of its own, so its audit file and rate-limit windows are this module's alone."""
    workdir = tmp_path_factory.mktemp("security")
    port = free_port_block(1)
    gateway = start_gateway(port, stack.agencies, workdir / "audit.jsonl", workdir, search_rate="3/minute")
    try:
        yield dataclasses.replace(stack, gateway=f"http://127.0.0.1:{port}", audit=workdir / "audit.jsonl")
    finally:
        stop(gateway)


def records(s: Stack) -> list[dict]:
    return [orjson.loads(line) for line in s.audit.read_bytes().splitlines()] if s.audit.exists() else []


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_token_attack_gets_unauthenticated_and_no_data(secure: Stack, attack: str) -> None:
    child = plain(secure)
    secure.clear_calls()
    r = httpx.post(
        secure.gateway + "/graphql",
        json={"query": FULL, "variables": {"id": child.nhs_number}},
        headers={"Authorization": "Bearer " + ATTACKS[attack]()},
        timeout=10,
    )
    body = r.json()
    assert body["data"] == {"child": None} and codes(body) == ["UNAUTHENTICATED"]
    assert child.family not in r.text
    assert all(secure.calls(a) == [] for a in secure.agencies if a != "directory")  # no agency was asked


def test_a_child_query_without_a_purpose_is_refused(secure: Stack) -> None:
    out = secure.query(Q, "gp", id=plain(secure).nhs_number)
    assert out["data"]["child"] is None and codes(out) == ["PURPOSE_REQUIRED"]


def test_break_glass_needs_a_real_justification(secure: Stack) -> None:
    out = secure.query(Q, "social-worker", id=plain(secure).nhs_number, purpose="SAFEGUARDING", bg="urgent")
    assert out["data"]["child"] is None and codes(out) == ["BREAK_GLASS_REFUSED"]
    assert "at least 20 characters" in out["errors"][0]["message"]


def test_break_glass_is_refused_and_recorded_for_roles_without_the_override(secure: Stack) -> None:
    child = next(c for c in secure.pop.of_kind("shielded") if "weak-match" not in c.kinds)
    out = secure.query(Q, "teacher", id=child.nhs_number, purpose="SAFEGUARDING", bg=WHY)
    assert out["data"]["child"] is None and codes(out) == ["BREAK_GLASS_REFUSED"]
    refused = [r for r in records(secure) if r["type"] == "break-glass.refused" and r["childId"] == child.nhs_number]
    assert [(r["practitioner"], r["breakGlass"]) for r in refused] == [("P000002", WHY)]


def test_break_glass_is_an_alert_and_lasts_one_request(secure: Stack) -> None:
    child = next(c for c in secure.pop.of_kind("shielded") if not c.kinds & {"weak-match", "conflicting"})
    opened = secure.query(Q, "social-worker", id=child.nhs_number, purpose="SAFEGUARDING", bg=WHY)
    assert opened["data"]["child"]["address"]["postcode"] == child.address.postcode
    alerts = [r for r in records(secure) if r["type"] == "alert" and r["childId"] == child.nhs_number]
    assert sorted(a["reason"] for a in alerts) == ["BREAK_GLASS", "SHIELD_OVERRIDE"]
    assert all(a["breakGlass"] == WHY and a["practitioner"] == "P000001" for a in alerts)
    again = secure.query(Q, "social-worker", id=child.nhs_number, purpose="SAFEGUARDING")
    assert again["data"]["child"]["address"] is None
    assert [e["extensions"]["reason"] for e in again["errors"]] == ["SHIELDED"]


def test_searches_are_rate_limited_per_practitioner_and_audited(secure: Stack) -> None:
    child = plain(secure, "on-plan")
    name, dob = f"{child.given} {child.family}", child.dob.isoformat()
    answers = [secure.query(SEARCH, "housing-officer", n=name, d=dob) for _ in range(4)]
    assert [codes(a) for a in answers] == [[], [], [], ["RATE_LIMITED"]]
    assert answers[0]["data"]["searchChildren"][0]["id"] == child.nhs_number
    assert answers[3]["data"] is None or answers[3]["data"]["searchChildren"] is None
    assert codes(secure.query(SEARCH, "yot-worker", n=name, d=dob)) == []  # another practitioner's own window
    mine = [r for r in records(secure) if r.get("practitioner") == "P000007" and r["type"].startswith("child.search")]
    assert [r["type"] for r in mine] == ["child.search"] * 3 + ["child.search.rate-limited"]
    assert len({r["searchDigest"] for r in mine}) == 1

    # The terms are not in the trail, but an investigator holding the key can still find the searches.
    trail = secure.audit.read_text()
    assert child.family not in trail and child.given not in trail and dob not in trail
    env = {**os.environ, "WARDGATE_AUDIT_PATH": str(secure.audit)}
    argv = [sys.executable, "-m", "gateway", "audit", "who-searched", "--name", name.upper(), "--dob", dob]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert sum("P000007 (housing-officer" in ln for ln in lines) == 4 and sum("P000008" in ln for ln in lines) == 1


def test_the_trail_holds_paths_never_values_and_the_chain_holds(secure: Stack) -> None:
    child = next(c for c in secure.pop.of_kind("police-known") if not c.kinds & {"weak-match", "shielded"})
    out = secure.query(FULL, "social-worker", id=child.nhs_number)
    assert out["data"]["child"]["name"]["family"] == child.family
    read = [r for r in records(secure) if r["type"] == "child.read" and r["childId"] == child.nhs_number][-1]
    assert "name.family" in {p.removeprefix("child.") for p in read["fieldsReturned"]}
    assert read["purpose"] == "safeguarding" and read["policyRevision"] and read["agenciesCalled"]
    trail = secure.audit.read_text()
    for value in (child.family, child.given, child.dob.isoformat(), child.address.postcode, child.address.line1):
        assert value not in trail
    assert verify(secure.audit) == (True, "chain intact")


def test_the_auditor_reads_who_looked_at_a_child_and_no_one_else_can(secure: Stack) -> None:
    child = plain(secure, "looked-after")
    secure.query(Q, "gp", id=child.nhs_number, purpose="ROUTINE_CARE")
    secure.query(Q, "police-officer", id=child.nhs_number, purpose="SAFEGUARDING", bg=WHY)
    log = secure.query(LOG, "auditor", id=child.nhs_number)["data"]["accessLog"]
    reads = [(e["kind"], e["practitioner"], e["role"], e["purpose"]) for e in log if e["kind"] == "child.read"]
    assert reads == [
        ("child.read", "P000003", "gp", "routine-care"),
        ("child.read", "P000006", "police-officer", "safeguarding"),
    ]
    assert any(e["kind"] == "alert" and e["breakGlass"] == WHY for e in log)
    assert all(child.family not in str(e) for e in log)
    denied = secure.query(LOG, "social-worker", id=child.nhs_number)
    assert denied["data"] is None or denied["data"]["accessLog"] is None
    assert codes(denied) == ["FORBIDDEN"]
    assert any(r["type"] == "audit.read" and r["subjectChildId"] == child.nhs_number for r in records(secure))

    env = {**os.environ, "WARDGATE_AUDIT_PATH": str(secure.audit)}
    argv = [sys.executable, "-m", "gateway", "audit", "who-viewed", child.nhs_number]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert "P000003 (gp, health)  purpose=routine-care" in out.stdout
    assert f"BREAK-GLASS: {WHY}" in out.stdout


def test_an_unwritable_audit_trail_returns_nothing(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("no-audit")
    port = free_port_block(1)
    audit = workdir / "audit"
    gateway = start_gateway(port, stack.agencies, audit, workdir, instance="gw-blocked")
    # `wardgate run` refuses an audit path it cannot write at start; here it breaks while the gateway runs:
    # this instance's chain "file" becomes a directory.
    chain = audit / "gw-blocked.jsonl"
    chain.unlink(missing_ok=True)
    chain.mkdir(parents=True)
    try:
        broken = dataclasses.replace(stack, gateway=f"http://127.0.0.1:{port}")
        child = plain(stack)
        r = httpx.post(
            broken.gateway + "/graphql",
            json={"query": FULL, "variables": {"id": child.nhs_number}},
            headers={"Authorization": "Bearer " + dev_token("gp")},
            timeout=30,
        )
        body = r.json()
        assert body["data"] == {"child": None} and codes(body) == ["AUDIT_UNAVAILABLE"]
        assert child.family not in r.text and child.address.postcode not in r.text
        ready = httpx.get(broken.gateway + "/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["checks"]["audit"] is False
    finally:
        stop(gateway)


def test_reads_of_restricted_data_notify_the_owning_agency(secure: Stack) -> None:
    police = secure.agencies["police"]
    child = next(
        c for c in secure.pop.of_kind("police-known") if not c.kinds & {"weak-match", "shielded", "conflicting"}
    )
    httpx.delete(police + "/__admin/notifications", headers={"x-admin-key": "mock-admin"}, timeout=5)

    def inbox() -> list[dict]:
        r = httpx.get(police + "/__admin/notifications", headers={"x-admin-key": "mock-admin"}, timeout=5)
        return [n for n in r.json()["notifications"] if n["childId"] == child.nhs_number]

    own = secure.query(FULL, "police-officer", id=child.nhs_number)
    assert own["data"]["child"]["police"]["notifications"]
    other = secure.query(FULL, "social-worker", id=child.nhs_number)
    assert other["data"]["child"]["police"]["notifications"]
    got = eventually(inbox)  # delivered from the outbox, off the request's path
    assert len(got) == 1 and got[0]["event"] == "restricted-read"  # the police's own read is not news to them
    assert got[0]["readBy"] == {"practitioner": "P000001", "role": "social-worker", "agency": "social-care"}
    assert got[0]["purpose"] == "safeguarding" and child.family not in str(got[0])
    denied = secure.query(FULL, "social-worker", mfa=False, id=child.nhs_number)
    assert denied["data"]["child"]["police"] is None
    time.sleep(0.5)  # five outbox windows
    assert len(inbox()) == 1  # nothing restricted was read, nobody is told


def eventually(probe: Callable[[], list[dict]], timeout_s: float = 3.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while not (found := probe()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_concurrent_restricted_reads_reach_the_agency_in_few_batches(secure: Stack) -> None:
    police = secure.agencies["police"]
    children = [
        c for c in secure.pop.of_kind("police-known") if not c.kinds & {"weak-match", "shielded", "conflicting"}
    ][:6]
    httpx.delete(police + "/__admin/notifications", headers={"x-admin-key": "mock-admin"}, timeout=5)
    secure.clear_calls()
    with ThreadPoolExecutor(len(children)) as pool:
        outs = list(pool.map(lambda c: secure.query(FULL, "social-worker", id=c.nhs_number), children))
    assert all(o["data"]["child"]["police"]["notifications"] for o in outs)

    def inbox() -> list[dict]:
        r = httpx.get(police + "/__admin/notifications", headers={"x-admin-key": "mock-admin"}, timeout=5)
        got = r.json()["notifications"]
        return got if len(got) >= len(children) else []

    got = eventually(inbox)
    assert sorted(n["childId"] for n in got) == sorted(c.nhs_number for c in children)
    posts = [c for c in secure.calls("police") if c["method"] == "POST"]
    assert 1 <= len(posts) < len(children), posts  # batched: fewer calls than reads
