"""The gateway end to end: real HTTP between gateway and agencies, real tokens, real policy."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.dev.tokens import dev_token
from support.stack import FULL, Stack


def child_of(stack: Stack, kind: str, **want: object):  # type: ignore[no-untyped-def]
    for c in stack.pop.of_kind(kind):
        if all(getattr(c, k) == v for k, v in want.items()):
            return c
    pytest.skip(f"no {kind} child in this population")


def test_full_profile_is_assembled_from_every_agency(stack: Stack) -> None:
    child = next(
        c
        for c in stack.pop.of_kind("police-known")
        if c.upn and not c.shielded and "weak-match" not in c.kinds and c.social_care_id
    )
    out = stack.query(FULL, "social-worker", id=child.nhs_number)
    data = out["data"]["child"]
    assert data["name"] == {"given": child.given, "family": child.family}
    assert data["dateOfBirth"] == child.dob.isoformat()
    assert data["school"]["urn"] == child.school_urn
    assert data["police"]["notifications"], out
    assert {s["agency"] for s in data["sources"]} == {
        "health",
        "education",
        "social-care",
        "police",
        "housing",
        "youth-justice",
        "camhs",
        "sexual-health",
    }
    assert all(s["status"] == "ok" for s in data["sources"])
    involved = {i["practitioner"]["id"] for i in data["involvements"] if i["practitioner"]}
    assert child.police_ref and involved  # involvements gathered across agencies
    assert set(involved) <= child.involved


def test_only_the_agencies_the_query_selects_are_called(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("ordinary") if c.upn)
    stack.clear_calls()
    out = stack.query(
        "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { name { family } school { urn } } }",
        id=child.nhs_number,
    )
    assert out["data"]["child"]["school"]["urn"] == child.school_urn
    called = {a for a in stack.agencies if stack.calls(a)}
    # health (the spine), education (selected), social care and housing (the shield, consents and refuge
    # facts policy needs) and nobody else
    assert called == {"health", "education", "social-care", "housing"}


def test_calls_of_one_request_are_in_flight_together(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("ordinary") if c.upn)
    for agency in ("education", "social-care", "camhs", "sexual-health", "youth-justice", "police", "housing"):
        stack.faults(agency, {"latency": {"kind": "fixed", "ms": 300}})
    stack.clear_calls()
    out = stack.query(FULL, "social-worker", id=child.nhs_number)
    assert out["data"]["child"]["name"]
    intervals = []
    for agency in stack.agencies:
        calls = stack.calls(agency)
        if calls:  # an agency's first call; fallback lookups follow it by design
            intervals.append((calls[0]["started"], calls[0]["ended"], agency))
    agencies = {a for _, _, a in intervals}
    assert agencies >= {
        "health",
        "education",
        "social-care",
        "camhs",
        "sexual-health",
        "youth-justice",
        "police",
        "housing",
    }
    # The slow agencies' calls all overlap one instant: none waited for another slow one.
    slow = [(s, e) for s, e, a in intervals if a != "health"]
    assert max(s for s, _ in slow) < min(e for _, e in slow)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"error_rate": 1}, "AGENCY_UNAVAILABLE"),
        ({"timeout_rate": 1, "hang_seconds": 5}, "AGENCY_TIMEOUT"),
        ({"malformed_rate": 1}, "AGENCY_BAD_RESPONSE"),
        ({"oversized_rate": 1, "oversized_bytes": 4000000}, "AGENCY_BAD_RESPONSE"),
    ],
)
def test_a_failing_agency_gives_a_partial_result_naming_it(stack: Stack, fault: dict, code: str) -> None:
    child = next(c for c in stack.pop.of_kind("ordinary") if c.upn)
    stack.faults("education", fault)
    out = stack.query(
        "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) {"
        " name { family } school { urn } sources { agency status } } }",
        id=child.nhs_number,
    )
    data = out["data"]["child"]
    assert data["name"]["family"] == child.family  # everything else still returned
    assert data["school"] is None
    errors = [e for e in out["errors"] if e["path"] == ["child", "school"]]
    assert errors and errors[0]["extensions"]["code"] == code and errors[0]["extensions"]["agency"] == "education"
    status = {s["agency"]: s["status"] for s in data["sources"]}
    assert status["education"] != "ok"


def test_audit_trail_holds_paths_never_values(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("ordinary") if c.upn)
    stack.query(FULL, "gp", id=child.nhs_number)
    text = stack.audit.read_text()
    assert child.nhs_number in text  # the child id is recorded
    assert child.given not in text and child.address.postcode not in text and child.dob.isoformat() not in text


def test_search_finds_a_child_by_name_and_date_of_birth(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("ordinary"))
    out = stack.query(
        "query($n: String!, $d: Date) { searchChildren(name: $n, dateOfBirth: $d, purpose: ROUTINE_CARE)"
        " { id name { given family } matchGrade } }",
        "gp",
        n=f"{child.given} {child.family}",
        d=child.dob.isoformat(),
    )
    found = out["data"]["searchChildren"]
    assert any(m["id"] == child.nhs_number and m["matchGrade"] == "CERTAIN" for m in found), out
    audit = stack.audit.read_text()
    assert child.family not in audit  # search terms are only a keyed hash


def test_directory_queries_answer_from_the_council_directory(stack: Stack) -> None:
    out = stack.query("{ schools { urn name } gpPractices { code } services { id } me { id role } }", "teacher")
    data = out["data"]
    assert {s["urn"] for s in data["schools"]} == set(stack.pop.schools)
    assert len(data["gpPractices"]) == len(stack.pop.gp_practices)
    assert data["me"] == {"id": "P000002", "role": "designated-safeguarding-lead"}


def test_no_child_data_is_left_on_disk(stack: Stack) -> None:
    sample = [c for c in stack.pop.children[:40]]
    for c in sample[:5]:
        stack.query(FULL, "social-worker", id=c.nhs_number)
    for path in stack.workdir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="ignore")
            for c in sample[:5]:
                assert f'"{c.given}"' not in text and c.address.line1 not in text, path


def test_server_timing_gives_the_agencies_part_and_the_gateways_total(stack: Stack) -> None:
    import re

    import httpx

    from gateway.dev.tokens import dev_token

    child = child_of(stack, "ordinary")
    stack.faults("camhs", {"latency": {"kind": "fixed", "ms": 150}})
    agencies_parts = []
    for _ in range(3):
        r = httpx.post(
            stack.gateway + "/graphql",
            json={"query": FULL, "variables": {"id": child.nhs_number}},
            headers={"Authorization": f"Bearer {dev_token('social-worker', mfa=True)}"},
            timeout=30,
        )
        timing = r.headers.get("server-timing", "")
        m = re.fullmatch(r"agencies;dur=(\d+\.\d\d), gateway;dur=([\d.]+)", timing)
        assert m, timing
        agencies, total = float(m.group(1)), float(m.group(2))
        assert 150 <= agencies <= total  # the slow agency is the agencies' part; the gateway's total includes it
        agencies_parts.append(m.group(1))
    # Timed finer than the event loop's clock (uvloop's counts whole milliseconds): three whole numbers in a
    # row would mean the figure is only as precise as that clock.
    assert not all(part.endswith(".00") for part in agencies_parts), agencies_parts
    # no child asked about, no agency called: no timing to give
    r = httpx.post(stack.gateway + "/graphql", json={"query": "{ __typename }"}, timeout=10)
    assert "server-timing" not in r.headers


def test_a_callers_request_id_is_kept_only_if_it_is_a_plain_correlation_id(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("ordinary") if c.upn)
    query = "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { id } }"
    for given, kept in (("corr-42.a:b_C", True), ("x" * 300, False), ("a b;c", False)):
        stack.clear_calls()
        r = httpx.post(
            stack.gateway + "/graphql",
            json={"query": query, "variables": {"id": child.nhs_number}},
            headers={"Authorization": f"Bearer {dev_token('social-worker', mfa=True)}", "X-Request-Id": given},
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["data"]["child"]["id"] == child.nhs_number
        forwarded = {c["requestId"] for c in stack.calls("health")}
        assert len(forwarded) == 1
        (sent,) = forwarded
        assert (sent == given) is kept
        assert kept or re.fullmatch(r"[0-9a-f]{32}", sent)  # replaced by a fresh id
        last = [line for line in stack.audit.read_text().splitlines() if sent in line]
        assert last, "the audit record carries the id the agencies saw"
