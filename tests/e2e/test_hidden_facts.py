"""Each way a hidden fact was found showing through the answer, tried again from outside as an attacker
would: the same question about children who differ in the fact, compared."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from mocks.population import Child as TrueChild
from support.processes import free_port_block, stop
from support.stack import Stack, codes, plain, start_gateway
from support.tokens import signed

Q = """query($id: ID!, $purpose: Purpose, $bg: String) { child(id: $id, purpose: $purpose, breakGlass: $bg) {
  %s } }"""
ADMIN = {"x-admin-key": "mock-admin"}


def twins(stack: Stack, kind: str) -> tuple[TrueChild, TrueChild]:
    return next((a, b) for k, a, b in stack.pop.twins if k == kind)


def ask(stack: Stack, selection: str, child: TrueChild, persona: str, purpose: str = "ROUTINE_CARE", **kw: Any) -> Any:
    return stack.query(Q % selection, persona, id=child.nhs_number, purpose=purpose, **kw)


def markers(out: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            tuple(e.get("path") or ()),
            e["extensions"]["code"],
            e["extensions"].get("reason"),
            e["extensions"].get("agency"),
        )
        for e in out.get("errors", [])
    )


def records(stack: Stack) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stack.audit.read_bytes().splitlines()]


# 1 --------------------------------------------------------------------------------------------------
def test_a_shield_on_a_record_the_linker_did_not_accept_still_shields(stack: Stack) -> None:
    """Social care's record has no NHS number and says "Abbie" where health says "Abigail": not linked,
    but it might be the child's, so its shield counts (and consents on it would not)."""
    shielded, _ = twins(stack, "shield-unlinked")
    out = ask(
        stack,
        "name { given } address { line1 } school { name } gp { practiceName } involvements "
        "{ practitioner { name phone } }",
        shielded,
        "teacher",
        mfa=False,
    )
    child = out["data"]["child"]
    assert child["name"] == {"given": "Abigail"}
    assert child["address"] is None and child["school"] is None and child["gp"] is None
    assert not child["involvements"]  # withheld as a whole (SHIELDED): nobody working with her is named
    assert {("address", "SHIELDED"), ("school", "SHIELDED"), ("gp", "SHIELDED")} <= {
        (e["path"][-1], e["extensions"]["reason"]) for e in out["errors"]
    }


# 2 --------------------------------------------------------------------------------------------------
def test_an_involvement_says_who_works_with_the_child_never_their_legal_status(stack: Stack) -> None:
    on_plan, in_need = twins(stack, "plan")
    outs = [
        ask(stack, "socialCare { legalStatus } involvements { agency status since }", c, "teacher")
        for c in (on_plan, in_need)
    ]
    for out in outs:
        assert out["data"]["child"]["socialCare"] is None  # case data: withheld from a teacher for routine care
        social = [i for i in out["data"]["child"]["involvements"] if i["agency"] == "social-care"]
        assert social == [{"agency": "social-care", "status": "allocated", "since": None}]
    assert outs[0] == outs[1]


# 3 --------------------------------------------------------------------------------------------------
def test_withheld_involvements_are_marked_by_class_not_by_whether_they_exist(stack: Stack) -> None:
    known = next(c for c in stack.pop.of_kind("sensitive-not-consented") if c.camhs_id and not c.shielded)
    ordinary = next(c for c in stack.pop.of_kind("ordinary") if c.household_ref not in stack.pop.households)
    outs = [ask(stack, "involvements { agency }", c, "teacher", mfa=False) for c in (known, ordinary)]
    assert markers(outs[0]) == markers(outs[1])
    reasons = {(m[2], m[3]) for m in markers(outs[0])}
    assert {("NO_CONSENT", "camhs"), ("TWO_FACTOR_REQUIRED", "police"), ("NOT_NEED_TO_KNOW", "housing")} <= reasons
    assert "camhs" not in {i["agency"] for i in outs[0]["data"]["child"]["involvements"]}


# 4 --------------------------------------------------------------------------------------------------
def test_a_weak_record_the_requester_may_not_see_changes_no_grade(stack: Stack) -> None:
    """Housing (asked for every child, for the refuge fact) holds a record it links only as probable; a
    teacher may not know housing holds a record at all, so for them the grade stays certain."""
    weak, _ = twins(stack, "weak-housing")
    out = ask(stack, "matchGrade warnings address { postcode }", weak, "teacher", mfa=False)
    assert out["data"]["child"]["matchGrade"] == "CERTAIN" and out["data"]["child"]["warnings"] == []
    # whoever may know of the housing record sees the grade it gives
    out = ask(stack, "matchGrade address { postcode }", weak, "social-worker", "SAFEGUARDING")
    assert out["data"]["child"]["matchGrade"] == "PROBABLE" and out["data"]["child"]["address"] is None


def test_the_grade_comes_from_records_the_requester_may_see_whatever_is_selected(stack: Stack) -> None:
    weak, _ = twins(stack, "weak-record")  # a police record linked as probable: a teacher may not see police
    plain_answer = ask(stack, "matchGrade warnings address { postcode }", weak, "teacher", mfa=False)
    with_conflicts = ask(
        stack, "matchGrade warnings address { postcode } conflicts { field }", weak, "teacher", mfa=False
    )
    for out in (plain_answer, with_conflicts):
        child = out["data"]["child"]
        assert child["matchGrade"] == "CERTAIN" and child["warnings"] == []
        assert child["address"] == {"postcode": weak.address.postcode}
    assert with_conflicts["data"]["child"]["conflicts"] == []
    # a social worker with two factors may see police: for them the weak record withholds police's part only
    out = ask(
        stack,
        "matchGrade address { postcode } police { notifications { kind } }",
        weak,
        "social-worker",
        "SAFEGUARDING",
    )
    assert out["data"]["child"]["address"] == {"postcode": weak.address.postcode}
    assert out["data"]["child"]["police"] is None
    assert ("police", "WEAK_MATCH") in {(e["path"][-1], e["extensions"]["reason"]) for e in out["errors"]}


# 5 --------------------------------------------------------------------------------------------------
def test_counters_are_on_the_operator_listener_not_the_public_port(stack: Stack) -> None:
    assert httpx.get(stack.gateway + "/metrics", timeout=5).status_code == 404
    r = httpx.get(stack.operator + "/metrics", timeout=5)
    assert r.status_code == 200 and "wardgate_policy_decisions_total" in r.text


# 6 --------------------------------------------------------------------------------------------------
def test_latency_is_given_only_for_agencies_the_requester_may_know_hold_a_record(stack: Stack) -> None:
    with_order, without = twins(stack, "youth-justice")
    for child in (with_order, without):
        selection = (
            "sources { agency status latencyMs } youthJustice { worker { id } } police { notifications { kind } }"
        )
        out = ask(stack, selection, child, "teacher", mfa=False)
        latency = {s["agency"]: s["latencyMs"] for s in out["data"]["child"]["sources"]}
        status = {s["agency"]: s["status"] for s in out["data"]["child"]["sources"]}
        assert status["youth-justice"] == status["police"] == "ok"  # asked, and answered
        assert latency["youth-justice"] is None and latency["police"] is None
        assert latency["health"] is not None and latency["education"] is not None


def test_the_calls_made_for_a_child_do_not_depend_on_whether_an_agency_holds_them(stack: Stack) -> None:
    """The fallback search runs whether or not the NHS-number lookup found the child."""
    found_by_nhs, found_by_name = twins(stack, "missing-nhs-number")
    _, none = twins(stack, "youth-justice")
    made = []
    for child in (found_by_nhs, found_by_name, none):
        httpx.delete(stack.agencies["youth-justice"] + "/__admin/calls", headers=ADMIN, timeout=5)
        ask(stack, "youthJustice { orders { kind } }", child, "social-worker", "SAFEGUARDING")
        made.append(len([c for c in stack.calls("youth-justice") if c["path"].startswith("/yj/")]))  # not notices
    assert made[0] == made[1] == made[2] == 2


# 7 --------------------------------------------------------------------------------------------------
def test_a_section_with_every_member_null_is_null(stack: Stack) -> None:
    consent_only = next(
        c
        for c in stack.pop.children
        if c.social_care_id and c.social_care_status is None and c.consents and not c.shielded and "twin" not in c.kinds
    )
    out = ask(stack, "earlyHelp { cafStatus leadProfessional { name } }", consent_only, "teacher")
    assert out["data"]["child"]["earlyHelp"] is None


# 8 --------------------------------------------------------------------------------------------------
def test_a_masked_field_stays_masked_in_conflicts_and_in_search_scores(stack: Stack) -> None:
    child = next(
        c
        for c in stack.pop.children
        if c.differences.get("education") == {"address"} and not c.shielded and "refuge" not in c.kinds
    )
    out = ask(stack, "address { postcode } conflicts { field values { agency value } }", child, "voluntary-worker")
    data = out["data"]["child"]
    assert data["address"]["postcode"] == child.address.postcode.split()[0]
    for conflict in data["conflicts"]:
        if conflict["field"] == "address.postcode":
            assert all(" " not in v["value"] for v in conflict["values"]), conflict
    search = """query($n: String!, $d: Date, $p: String) { searchChildren(name: $n, dateOfBirth: $d, postcode: $p,
      purpose: ROUTINE_CARE) { id score } }"""
    name, dob = f"{child.given} {child.family}", child.dob.isoformat()
    scores = []
    for guess in (child.address.postcode, "WG1 1AA"):
        found = stack.query(search, "voluntary-worker", n=name, d=dob, p=guess)["data"]["searchChildren"]
        scores.append({m["id"]: m["score"] for m in found}.get(child.nhs_number))
    assert scores[0] is not None and scores[0] == scores[1]


# 9 --------------------------------------------------------------------------------------------------
def test_a_refuge_address_is_withheld_from_everyone_without_the_restricted_right(stack: Stack) -> None:
    in_refuge, _ = twins(stack, "refuge")
    selection = "address { line1 postcode } housing { tenancyAddress { postcode } }"
    for persona, purpose, mfa in (
        ("teacher", "ROUTINE_CARE", True),
        ("gp", "ROUTINE_CARE", True),
        ("social-worker", "SAFEGUARDING", False),
    ):
        out = ask(stack, selection, in_refuge, persona, purpose, mfa=mfa)
        child = out["data"]["child"]
        assert child["address"] is None, persona
        assert child["housing"] is None or child["housing"]["tenancyAddress"] is None, persona
        assert "PROTECTED_ADDRESS" in {e["extensions"]["reason"] for e in out["errors"]}, persona
    out = ask(stack, selection, in_refuge, "social-worker", "SAFEGUARDING", mfa=True)
    assert out["data"]["child"]["address"]["postcode"] == in_refuge.address.postcode


# 10 -------------------------------------------------------------------------------------------------
def test_a_purpose_the_role_may_not_use_is_refused_before_any_agency_and_alike_for_any_number(stack: Stack) -> None:
    real = plain(stack)
    made_up = "9999999999"  # a valid check digit, nobody's number
    answers = []
    for nhs in (real.nhs_number, made_up):
        stack.clear_calls()
        for persona, purpose in (("auditor", "AUDIT"), ("teacher", "AUDIT")):
            out = stack.query(Q % "id", persona, id=nhs, purpose=purpose)
            answers.append((persona, out))
        assert all(stack.calls(a) == [] for a in stack.agencies if a != "directory")
    assert answers[0][1] == answers[2][1] and answers[1][1] == answers[3][1]
    assert answers[0][1]["data"]["child"] is None
    assert markers(answers[0][1]) == [(("child",), "FORBIDDEN_FIELD", "AUDITOR_NO_CHILD_DATA", None)]
    assert markers(answers[1][1]) == [(("child",), "FORBIDDEN_FIELD", "PURPOSE_NOT_PERMITTED", None)]


@pytest.fixture(scope="module")
def limited(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("limited")
    port = free_port_block(1)
    gateway = start_gateway(port, stack.agencies, workdir / "audit.jsonl", workdir, child_rate="5/minute")
    try:
        yield Stack(f"http://127.0.0.1:{port}", stack.agencies, stack.pop, workdir / "audit.jsonl", workdir)
    finally:
        stop(gateway)


def test_child_look_ups_are_rate_limited_per_practitioner_each_alias_counting(limited: Stack) -> None:
    child = plain(limited)
    aliases = " ".join(f'a{i}: child(id: "{child.nhs_number}", purpose: ROUTINE_CARE) {{ id }}' for i in range(4))
    out = limited.query(f"{{ {aliases} }}", "gp")
    assert codes(out) == []
    out = limited.query(f"{{ {aliases} }}", "gp")  # 8 look-ups: the 6th, 7th and 8th are over 5 a minute
    assert codes(out).count("RATE_LIMITED") == 3
    assert codes(limited.query(f"{{ {aliases} }}", "health-visitor")) == []  # another practitioner's window
    kinds = [r["type"] for r in records(limited) if r.get("practitioner") == "P000003"]
    assert kinds.count("child.read") == 5 and kinds.count("child.rate-limited") == 3


# 11 -------------------------------------------------------------------------------------------------
def _notices(stack: Stack, agency: str, child: TrueChild) -> list[dict[str, Any]]:
    r = httpx.get(stack.agencies[agency] + "/__admin/notifications", headers=ADMIN, timeout=5)
    return [n for n in r.json()["notifications"] if n["childId"] == child.nhs_number]


def test_an_agency_is_notified_only_when_its_restricted_data_was_returned(stack: Stack) -> None:
    known, unknown = twins(stack, "police")
    for child in (known, unknown):
        out = ask(stack, "police { notifications { kind } }", child, "social-worker", "SAFEGUARDING")
        assert ("notifications" in str(out["data"]["child"]["police"])) == (child is known)
    time.sleep(0.5)  # the outbox's windows
    assert len(_notices(stack, "police", known)) == 1
    assert _notices(stack, "police", unknown) == []


# 12 -------------------------------------------------------------------------------------------------
def test_a_token_whose_role_and_agency_do_not_go_together_is_refused(stack: Stack) -> None:
    child = plain(stack)
    token = signed(sub="P000012", role="voluntary-worker", agency="police", amr=["pwd", "mfa"])
    r = httpx.post(
        stack.gateway + "/graphql",
        json={
            "query": Q % "id police { notifications { kind } }",
            "variables": {"id": child.nhs_number, "purpose": "ROUTINE_CARE"},
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    out = r.json()
    assert out["data"]["child"] is None
    assert markers(out) == [(("child",), "FORBIDDEN_FIELD", "ROLE_NOT_OF_AGENCY", None)]


def test_involvement_is_a_practitioner_of_the_agency_whose_record_names_them(stack: Stack) -> None:
    known, _ = twins(stack, "police")  # the police record names the police officer persona, P000006
    as_teacher = signed(sub="P000006", role="designated-safeguarding-lead", agency="education", amr=["pwd", "mfa"])
    r = httpx.post(
        stack.gateway + "/graphql",
        json={
            "query": Q % "police { notifications { kind } }",
            "variables": {"id": known.nhs_number, "purpose": "SAFEGUARDING"},
        },
        headers={"Authorization": f"Bearer {as_teacher}"},
        timeout=10,
    )
    out = r.json()
    assert out["data"]["child"]["police"] is None
    assert ("police", "NOT_NEED_TO_KNOW") in {(e["path"][-1], e["extensions"]["reason"]) for e in out["errors"]}


# 13 -------------------------------------------------------------------------------------------------
def test_a_look_up_of_nobody_and_a_short_break_glass_are_on_the_record(stack: Stack) -> None:
    out = stack.query(Q % "id", "gp", id="9999999999", purpose="ROUTINE_CARE")
    assert codes(out) == ["NOT_FOUND"]
    child = plain(stack)
    out = stack.query(Q % "id", "social-worker", id=child.nhs_number, purpose="SAFEGUARDING", bg="urgent")
    assert codes(out) == ["BREAK_GLASS_REFUSED"]
    trail = records(stack)
    assert any(
        r["type"] == "child.read" and r.get("outcome") == "not-found" and r["childId"] == "9999999999" for r in trail
    )
    assert any(
        r["type"] == "break-glass.refused" and r["childId"] == child.nhs_number and r["breakGlass"] == "urgent"
        for r in trail
    )


# 14 -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variables", "query"),
    [
        (
            {"d": "not a date"},
            'query($d: Date) { searchChildren(name: "A B", dateOfBirth: $d, purpose: SAFEGUARDING) { id } }',
        ),
        ({"p": "GOSSIP"}, 'query($p: Purpose) { child(id: "9434765919", purpose: $p) { id } }'),
    ],
)
def test_a_variable_that_does_not_fit_its_type_is_a_bad_request(
    stack: Stack, variables: dict[str, str], query: str
) -> None:
    out = stack.query(query, **variables)
    assert codes(out) == ["BAD_REQUEST"]


def test_the_same_root_field_twice_answers_both_selections(stack: Stack) -> None:
    child = plain(stack)
    out = stack.query(
        "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { address { postcode } }"
        " child(id: $id, purpose: SAFEGUARDING) { name { given } } }",
        id=child.nhs_number,
    )
    assert out["data"]["child"] == {"address": {"postcode": child.address.postcode}, "name": {"given": child.given}}
