"""``child``: the selection goes to the child pipeline, and what it withheld goes on the request."""

from __future__ import annotations

from gateway.types import Withheld
from mocks.population import Child
from support.inprocess import set_faults
from tests.unit.resolvers.client import Gateway, codes

POLICE = (
    "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { id name { given } police { notifications { kind } } } }"
)


def police_known(gateway: Gateway, skip: int = 0) -> Child:
    """A child the police know, whom no persona here works with (so need to know decides the police part)."""
    return [
        c
        for c in gateway.pop.of_kind("police-known")
        if not c.shielded and "weak-match" not in c.kinds and not c.involved & {"P000002", "P000003"}
    ][skip]


async def test_the_child_comes_back_with_what_policy_withheld_marked_at_its_path(gateway: Gateway) -> None:
    child = police_known(gateway)
    body, state = await gateway.ask(POLICE, "teacher", id=child.nhs_number)
    answer = body["data"]["child"]
    assert answer["id"] == child.nhs_number
    assert answer["name"] == {"given": gateway.pop.health[child.nhs_number].who.given}
    assert answer["police"] is None
    [withheld] = state.withheld
    assert withheld.path == ("child", "police") and withheld.code == "FORBIDDEN_FIELD"
    assert codes(body) == [(["child", "police"], "FORBIDDEN_FIELD")]
    assert body["errors"][0]["extensions"]["reason"] == withheld.reason


async def test_only_the_agencies_the_selection_needs_are_called(gateway: Gateway) -> None:
    child = police_known(gateway)
    _, narrow = await gateway.ask(
        "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { id } }", "gp", id=child.nhs_number
    )
    _, wide = await gateway.ask(POLICE, "gp", id=child.nhs_number)
    assert "police" not in narrow.agencies_called
    assert "police" in wide.agencies_called
    assert {"health", "social-care", "housing"} <= narrow.agencies_called
    assert narrow.agencies_ms > 0


async def test_each_aliased_child_is_marked_at_its_own_path(gateway: Gateway) -> None:
    first, second = police_known(gateway).nhs_number, police_known(gateway, 1).nhs_number
    query = """query($a: ID!, $b: ID!) {
      one: child(id: $a, purpose: SAFEGUARDING) { police { notifications { kind } } }
      two: child(id: $b, purpose: SAFEGUARDING) { police { notifications { kind } } } }"""
    body, state = await gateway.ask(query, "teacher", a=first, b=second)
    assert body["data"] == {"one": {"police": None}, "two": {"police": None}}
    assert sorted(w.path for w in state.withheld) == [("one", "police"), ("two", "police")]


async def test_a_child_refused_before_any_agency_is_null_with_the_reason(gateway: Gateway) -> None:
    child = police_known(gateway)
    before = gateway.transport.total()
    body, state = await gateway.ask(POLICE.replace("SAFEGUARDING", "EMERGENCY"), "teacher", id=child.nhs_number)
    assert body["data"] == {"child": None}
    assert state.withheld == [Withheld(("child",), "PURPOSE_NOT_PERMITTED")]
    assert state.agencies_called == set()
    assert gateway.transport.total() == before


async def test_an_agency_that_failed_is_reported_at_its_part(gateway: Gateway) -> None:
    child = police_known(gateway)
    await set_faults(gateway.transport, "police", error_rate=1.0)
    try:
        body, state = await gateway.ask(POLICE, "police-officer", id=child.nhs_number)
    finally:
        await set_faults(gateway.transport, "police")
    assert body["data"]["child"]["police"] is None
    assert (["child", "police"], "AGENCY_UNAVAILABLE") in codes(body)
    assert [(path, ext["agency"]) for path, _, ext in state.extra_errors] == [(("child", "police"), "police")]


async def test_a_child_without_a_purpose_or_a_token_is_refused_with_its_code(gateway: Gateway) -> None:
    child = police_known(gateway).nhs_number
    body, _ = await gateway.ask("query($id: ID!) { child(id: $id) { id } }", "gp", id=child)
    assert body["data"] == {"child": None} and codes(body) == [(["child"], "PURPOSE_REQUIRED")]
    body, _ = await gateway.ask(POLICE, id=child)
    assert body["data"] == {"child": None} and codes(body) == [(["child"], "UNAUTHENTICATED")]
