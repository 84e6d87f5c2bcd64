"""Policy over real HTTP: the access rules (docs/access-rules.md), field by field, for different personas and
children."""

from __future__ import annotations

import re

from support.stack import Stack, plain

Q = """query($id: ID!, $purpose: Purpose!, $bg: String) { child(id: $id, purpose: $purpose, breakGlass: $bg) {
  id name { given family } dateOfBirth address { line1 postcode } socialCare { legalStatus }
  police { notifications { kind } } mentalHealth { referrals { status } } } }"""


def reasons(out: dict) -> dict[str, str]:
    return {
        ".".join(map(str, e["path"][1:])): e["extensions"].get("reason", e["extensions"]["code"])
        for e in out.get("errors", [])
    }


def test_shielded_child_shows_only_identity_without_the_override(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("shielded") if "weak-match" not in c.kinds)
    out = stack.query(Q, "gp", id=child.nhs_number, purpose="ROUTINE_CARE")
    data = out["data"]["child"]
    assert data["name"]["family"] == child.family and data["dateOfBirth"] == child.dob.isoformat()
    assert data["address"] is None and reasons(out)["address"] == "SHIELDED"
    override = stack.query(
        Q,
        "social-worker",
        id=child.nhs_number,
        purpose="SAFEGUARDING",
        bg="Strategy meeting today; child at immediate risk",
    )
    assert override["data"]["child"]["address"]["postcode"] == child.address.postcode


def test_restricted_police_data_needs_role_purpose_and_two_factors(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("police-known") if not c.shielded and "weak-match" not in c.kinds)
    assert stack.query(Q, "social-worker", id=child.nhs_number, purpose="SAFEGUARDING")["data"]["child"]["police"]
    assert (
        reasons(stack.query(Q, "social-worker", mfa=False, id=child.nhs_number, purpose="SAFEGUARDING"))["police"]
        == "TWO_FACTOR_REQUIRED"
    )
    assert (
        reasons(stack.query(Q, "teacher", id=child.nhs_number, purpose="SAFEGUARDING"))["police"] == "NOT_NEED_TO_KNOW"
    )
    assert (
        reasons(stack.query(Q, "social-worker", id=child.nhs_number, purpose="ROUTINE_CARE"))["police"]
        == "SAFEGUARDING_PURPOSE_REQUIRED"
    )


def test_sensitive_services_follow_consent(stack: Stack) -> None:
    consented = next(
        c
        for c in stack.pop.of_kind("sensitive-consented")
        if c.camhs_id and not c.shielded and "weak-match" not in c.kinds
    )
    refused = next(
        c
        for c in stack.pop.of_kind("sensitive-not-consented")
        if c.camhs_id and not c.shielded and "weak-match" not in c.kinds
    )
    assert stack.query(Q, "social-worker", id=consented.nhs_number, purpose="SAFEGUARDING")["data"]["child"][
        "mentalHealth"
    ]["referrals"]
    out = stack.query(Q, "social-worker", id=refused.nhs_number, purpose="SAFEGUARDING")
    assert out["data"]["child"]["mentalHealth"] is None and reasons(out)["mentalHealth"] == "NO_CONSENT"


def test_auditor_sees_no_child_data(stack: Stack) -> None:
    child = stack.pop.children[0]
    out = stack.query(Q, "auditor", id=child.nhs_number, purpose="AUDIT")
    assert out["data"]["child"] is None
    assert out["errors"][0]["extensions"]["code"] == "FORBIDDEN_FIELD"


def test_voluntary_worker_gets_the_postcode_district_only(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("ordinary"))
    out = stack.query(Q, "voluntary-worker", id=child.nhs_number, purpose="ROUTINE_CARE")
    address = out["data"]["child"]["address"]
    assert address["postcode"] == child.address.postcode.split()[0]
    assert address["line1"] is None and reasons(out)["address.line1"] == "NOT_NEED_TO_KNOW"


def test_unauthenticated_requests_get_nothing(stack: Stack) -> None:
    import httpx

    child = stack.pop.children[0]
    r = httpx.post(
        stack.gateway + "/graphql",
        json={"query": Q, "variables": {"id": child.nhs_number, "purpose": "SAFEGUARDING"}},
        headers={"Authorization": "Bearer not-a-token"},
        timeout=10,
    )
    body = r.json()
    assert body["data"]["child"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_policy_explain_fetches_the_child_facts_live_and_audits_the_read(stack: Stack) -> None:
    import os
    import subprocess
    import sys

    import orjson

    child = next(
        c
        for c in stack.pop.of_kind("sensitive-consented")
        if c.camhs_id
        and not c.shielded
        and "weak-match" not in c.kinds
        and any(
            k.service == "camhs" and "social-worker" in k.roles and "safeguarding" in k.purposes for k in c.consents
        )
    )
    audit = stack.workdir / "explain-audit.jsonl"
    env = {
        **os.environ,
        "WARDGATE_AGENCY_URLS": orjson.dumps({k: v for k, v in stack.agencies.items() if k != "directory"}).decode(),
        "WARDGATE_AUDIT_PATH": str(audit),
    }
    argv = [sys.executable, "-m", "gateway", "policy", "explain", "--persona", "social-worker"]
    argv += ["--child", child.nhs_number, "--field", "Child.mentalHealth", "--purpose", "safeguarding"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "decision     allow CONSENTED" in out.stdout
    assert "fetched live from" in out.stdout and '"service": "camhs"' in out.stdout
    records = [orjson.loads(line) for line in audit.read_bytes().splitlines()]
    assert [(r["type"], r["childId"], r["practitioner"]) for r in records] == [
        ("policy.explain", child.nhs_number, "P000001")
    ]


def test_policy_explain_names_the_agencies_that_did_not_answer(stack: Stack) -> None:
    import os
    import subprocess
    import sys

    import orjson

    child = plain(stack, "police-known")
    stack.faults("police", {"error_rate": 1.0})
    env = {
        **os.environ,
        "WARDGATE_AGENCY_URLS": orjson.dumps({k: v for k, v in stack.agencies.items() if k != "directory"}).decode(),
        "WARDGATE_AUDIT_PATH": str(stack.workdir / "explain-outage-audit.jsonl"),
    }
    argv = [sys.executable, "-m", "gateway", "policy", "explain", "--persona", "police-officer", "--mfa"]
    argv += ["--child", child.nhs_number, "--field", "Child.police", "--purpose", "safeguarding"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^  NO ANSWER from\s+police \(unavailable\)", out.stdout, re.M), out.stdout
