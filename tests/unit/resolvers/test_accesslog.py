"""``accessLog``: who looked at a child, for auditors only, and reading it is on the record too."""

from __future__ import annotations

from tests.unit.resolvers.client import Gateway, codes

LOOK = "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { name { given } police { notifications { kind } } } }"
LOG = """query($id: ID!) { accessLog(childId: $id) {
  kind requestId practitioner role agency purpose breakGlass agenciesCalled fieldsReturned } }"""


async def test_an_auditor_reads_who_looked_at_a_child_and_the_reading_is_recorded(gateway: Gateway) -> None:
    child = gateway.pop.children[-1].nhs_number  # no other test looks at this one
    _, look = await gateway.ask(LOOK, "voluntary-worker", id=child)
    body, state = await gateway.ask(LOG, "auditor", id=child)
    assert "errors" not in body
    [entry] = body["data"]["accessLog"]
    assert entry["kind"] == "child.read" and entry["requestId"] == look.request_id
    assert (entry["practitioner"], entry["role"], entry["agency"]) == ("P000012", "voluntary-worker", "voluntary")
    assert entry["purpose"] == "safeguarding" and entry["breakGlass"] is None
    assert "child.name.given" in entry["fieldsReturned"]
    assert set(entry["agenciesCalled"]) == look.agencies_called
    # what was withheld, by path and reason, as the requester was told
    withheld, _ = await gateway.ask(
        "query($id: ID!) { accessLog(childId: $id) { fieldsWithheld { path reason } } }", "auditor", id=child
    )
    assert look.withheld
    assert withheld["data"]["accessLog"][0]["fieldsWithheld"] == [
        {"path": ".".join(map(str, w.path)), "reason": w.reason} for w in look.withheld
    ]
    [read] = await gateway.services.audit.records(requestId=state.request_id)
    assert read["type"] == "audit.read" and read["practitioner"] == "P000013"
    assert read["subjectChildId"] == child and read["recordsReturned"] == 1
    # reading the log is not a look at the child: a later reading still finds the one look
    again, _ = await gateway.ask(LOG, "auditor", id=child)
    assert [e["requestId"] for e in again["data"]["accessLog"]] == [look.request_id]


async def test_only_auditors_read_the_access_log_and_a_refused_reading_writes_nothing(gateway: Gateway) -> None:
    child = next(gateway.pop.of_kind("looked-after")).nhs_number
    for persona in ("social-worker", "police-officer", "gp"):
        body, state = await gateway.ask(LOG, persona, id=child)
        assert body["data"] is None and codes(body) == [(["accessLog"], "FORBIDDEN")]
        assert await gateway.services.audit.records(requestId=state.request_id) == []


async def test_the_access_log_needs_a_token_and_a_valid_nhs_number(gateway: Gateway) -> None:
    body, _ = await gateway.ask(LOG, id=next(gateway.pop.of_kind("looked-after")).nhs_number)
    assert codes(body) == [(["accessLog"], "UNAUTHENTICATED")]
    body, _ = await gateway.ask(LOG, "auditor", id="1234567890")
    assert codes(body) == [(["accessLog"], "BAD_REQUEST")]
