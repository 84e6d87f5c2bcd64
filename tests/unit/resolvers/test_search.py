"""``searchChildren``: the selection goes to the search pipeline, and what it withheld goes on the request."""

from __future__ import annotations

from gateway.types import Withheld
from tests.unit.resolvers.client import Gateway, codes

SEARCH = """query($name: String!, $dob: Date, $purpose: Purpose!) {
  searchChildren(name: $name, dateOfBirth: $dob, purpose: $purpose) { id name { given family } matchGrade } }"""


async def test_a_search_finds_the_child_by_name_and_date_of_birth(gateway: Gateway) -> None:
    child = next(c for c in gateway.pop.of_kind("ordinary") if not c.shielded)
    spine = gateway.pop.health[child.nhs_number].who
    name, dob = f"{spine.given} {spine.family}", spine.dob.isoformat()
    body, state = await gateway.ask(SEARCH, "social-worker", name=name, dob=dob, purpose="SAFEGUARDING")
    assert "errors" not in body and state.withheld == []
    matches = {m["id"]: m for m in body["data"]["searchChildren"]}
    assert matches[child.nhs_number]["name"] == {"given": spine.given, "family": spine.family}
    assert matches[child.nhs_number]["matchGrade"] == "CERTAIN"
    [record] = await gateway.services.audit.records(requestId=state.request_id)
    assert record["type"] == "child.search" and child.nhs_number in record["resultIds"]
    assert spine.family not in str(record)  # the terms only as keyed digests


async def test_a_search_refused_for_the_purpose_is_empty_with_the_reason_at_its_path(gateway: Gateway) -> None:
    child = next(gateway.pop.of_kind("ordinary"))
    before = gateway.transport.total()
    name, dob = f"{child.given} {child.family}", child.dob.isoformat()
    body, state = await gateway.ask(SEARCH, "teacher", name=name, dob=dob, purpose="EMERGENCY")
    assert body["data"] == {"searchChildren": []}
    assert state.withheld == [Withheld(("searchChildren",), "PURPOSE_NOT_PERMITTED")]
    assert codes(body) == [(["searchChildren"], "FORBIDDEN_FIELD")]
    assert gateway.transport.total() == before


async def test_a_search_without_a_date_of_birth_is_a_bad_request(gateway: Gateway) -> None:
    before = gateway.transport.total()
    body, _ = await gateway.ask(SEARCH, "social-worker", name="Amelia Hughes", purpose="SAFEGUARDING")
    assert codes(body) == [(["searchChildren"], "BAD_REQUEST")]
    assert gateway.transport.total() == before
