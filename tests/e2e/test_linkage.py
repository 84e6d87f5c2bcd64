"""Finding the right child across systems that disagree, over real HTTP: searches linked live across agencies,
graded records, conflicts, and the data-quality report."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mocks.population import Child as TrueChild
from support.stack import Stack, codes, plain

SEARCH = """query($n: String!, $d: Date, $p: String) {
  searchChildren(name: $n, dateOfBirth: $d, postcode: $p, purpose: ROUTINE_CARE) { %s } }"""


def search(stack: Stack, child: TrueChild, selection: str, persona: str = "gp", name: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return stack.query(
        SEARCH % selection, persona, n=name or f"{child.given} {child.family}", d=child.dob.isoformat(), **kw
    )


@pytest.mark.parametrize(
    "selection",
    ["id", "name { given }", "dateOfBirth gender", "score", "matchGrade", "__typename", "id name { family } score"],
)
def test_every_selection_shape_finds_the_child_and_the_trail_records_it(stack: Stack, selection: str) -> None:
    child = plain(stack)
    out = search(stack, child, selection)
    assert codes(out) == [] and len(out["data"]["searchChildren"]) >= 1, out
    found = [r for r in stack.audit.read_text().splitlines() if '"child.search"' in r]
    assert child.nhs_number in found[-1]


def test_a_search_is_one_round_of_calls_and_a_postcode_adds_one(stack: Stack) -> None:
    child = plain(stack)
    for agency in ("health", "social-care", "housing"):
        stack.faults(agency, {"latency": {"kind": "fixed", "ms": 150}})
    stack.clear_calls()
    search(stack, child, "id")
    calls = {a: [c["path"] for c in stack.calls(a)] for a in ("health", "social-care", "housing", "police")}
    assert len(calls["health"]) == 1 and calls["health"][0] == "/fhir/Patient"  # the search, no look-up by number
    assert len(calls["social-care"]) == 1 and len(calls["housing"]) == 1 and calls["police"] == []
    firsts = [stack.calls(a)[0] for a in ("health", "social-care", "housing")]
    assert max(c["started"] for c in firsts) < min(c["ended"] for c in firsts)  # all in flight together
    stack.clear_calls()
    search(stack, child, "id score", p=child.address.postcode)
    assert f"/fhir/Patient/{child.nhs_number}" in [c["path"] for c in stack.calls("health")]


def test_a_nickname_finds_the_child_as_probable(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("ordinary") if c.given == "Elizabeth")
    out = search(stack, child, "id matchGrade score", name=f"Liz {child.family}")
    found = {m["id"]: m for m in out["data"]["searchChildren"]}
    assert found[child.nhs_number]["matchGrade"] in ("PROBABLE", "POSSIBLE")
    exact = search(stack, child, "id matchGrade score")["data"]["searchChildren"]
    assert {m["id"]: m["score"] for m in exact}[child.nhs_number] > found[child.nhs_number]["score"]


def test_a_shielded_child_is_found_only_through_what_the_searcher_may_see(stack: Stack) -> None:
    child = next(c for c in stack.pop.of_kind("shielded") if not c.kinds & {"conflicting", "weak-match"})
    scores = []
    for guess in (child.address.postcode, "WG1 1AA"):
        found = search(stack, child, "id score", p=guess)["data"]["searchChildren"]
        scores.append({m["id"]: m["score"] for m in found}[child.nhs_number])
    assert scores[0] == scores[1]  # the postcode is not the searcher's to test


def test_conflicts_list_every_agency_whose_record_disagrees_with_its_value(stack: Stack) -> None:
    child = next(
        c
        for c in stack.pop.children
        if c.differences.get("education") == {"name"} and not c.shielded and "refuge" not in c.kinds
    )
    out = stack.query(
        "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { conflicts { field values { agency value } } } }",
        "social-worker",
        id=child.nhs_number,
    )
    conflicts = {c["field"]: c["values"] for c in out["data"]["child"]["conflicts"]}
    values = {v["agency"]: v["value"] for v in conflicts["name"]}
    assert values["health"] == f"{child.given} {child.family}"
    assert values["education"] == f"{child.copies['education'].given} {child.family}"


def test_the_quality_report_counts_links_and_disagreements_and_names_nobody(stack: Stack) -> None:
    for child in [plain(stack), *(c for c in stack.pop.children if c.differences)][:6]:
        stack.query(
            "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { conflicts { field } } }", id=child.nhs_number
        )
    argv = [sys.executable, "-m", "gateway", "quality", "--metrics", stack.operator + "/metrics"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("agency") and any(line.startswith("education") for line in lines)
    assert lines[-1].startswith("alive/deceased disagreements")
    education = next(line for line in lines if line.startswith("education")).split()
    assert int(education[1]) >= 1  # records looked up
    for child in stack.pop.children[:200]:
        assert child.nhs_number not in out.stdout and child.family not in out.stdout
