"""Directory fields: any authenticated practitioner, answered from the council directory."""

from __future__ import annotations

import pytest

from mocks.names import SERVICES
from tests.unit.resolvers.client import Gateway, codes


async def test_services_schools_and_gp_practices_are_the_directorys(gateway: Gateway) -> None:
    body, _ = await gateway.ask("{ services { id name agency category } schools { urn } gpPractices { code } }", "gp")
    data = body["data"]
    assert data["services"] == [{"id": i, "name": n, "agency": a, "category": c} for i, n, a, c in SERVICES]
    assert sorted(s["urn"] for s in data["schools"]) == sorted(s.urn for s in gateway.pop.schools.values())
    assert sorted(g["code"] for g in data["gpPractices"]) == sorted(g.code for g in gateway.pop.gp_practices.values())
    assert "errors" not in body


async def test_a_practitioner_is_looked_up_by_id(gateway: Gateway) -> None:
    query = "query($id: String!) { practitioner(id: $id) { id name role agency team } }"
    body, _ = await gateway.ask(query, "teacher", id="P000001")
    known = gateway.pop.practitioners["P000001"]
    assert body["data"]["practitioner"] == {
        "id": known.id,
        "name": known.name,
        "role": known.role,
        "agency": known.agency,
        "team": known.team,
    }
    body, _ = await gateway.ask(query, "teacher", id="P999999")
    assert body == {"data": {"practitioner": None}}


@pytest.mark.parametrize("pid", ["../P000001", "P000001?role=gp", "P" * 33, ""])
async def test_a_practitioner_id_that_is_not_a_plain_id_is_null_without_asking_the_directory(
    gateway: Gateway, pid: str
) -> None:
    before = gateway.calls("directory")
    body, _ = await gateway.ask("query($id: String!) { practitioner(id: $id) { id } }", "gp", id=pid)
    assert body == {"data": {"practitioner": None}}
    assert gateway.calls("directory") == before


async def test_the_directory_is_for_authenticated_practitioners_only(gateway: Gateway) -> None:
    before = gateway.calls("directory")
    body, _ = await gateway.ask('{ services { id } practitioner(id: "P000001") { id } }')
    assert body["data"] is None
    assert sorted(codes(body)) == [(["practitioner"], "UNAUTHENTICATED"), (["services"], "UNAUTHENTICATED")]
    assert gateway.calls("directory") == before
