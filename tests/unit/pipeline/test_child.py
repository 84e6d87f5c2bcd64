"""The child pipeline end to end in process: what a practitioner gets back, and what the audit trail holds."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import Settings
from gateway.dev import persona
from gateway.errors import AuditUnavailable, BadRequest, BreakGlassRefused, ChildNotFound, RateLimited
from gateway.graphql.selection import Sel
from gateway.identifiers import nhs_check_digit
from gateway.pipeline.audit import AuditSink, JsonlAuditSink
from gateway.pipeline.child import ChildAnswer, ChildPipeline, ChildRequest
from gateway.pipeline.context import Services
from gateway.pipeline.quota import Quota
from gateway.server.app import build_schema
from gateway.types import Subject, Withheld
from mocks.population import Child, Population
from support.inprocess import Agencies, services, set_faults

CHILDREN = 300
PATH = ("child",)
SELECTION = (
    Sel("id", "id"),
    Sel("name", "name", [Sel("given", "given"), Sel("family", "family")]),
    Sel("dateOfBirth", "dateOfBirth"),
    Sel("address", "address", [Sel("postcode", "postcode")]),
    Sel("sources", "sources", [Sel("agency", "agency"), Sel("status", "status")]),
)
JUSTIFICATION = "Child disclosed harm at school today; need history"
_ids = itertools.count()


def subject(name: str, *, mfa: bool = True) -> Subject:
    """A development persona as their token authenticates them."""
    p = persona(name)
    return Subject(p.practitioner_id, p.role, p.agency, mfa)


SOCIAL_WORKER, TEACHER, GP, AUDITOR = (subject(n) for n in ("social-worker", "teacher", "gp", "auditor"))


class Gateway:
    """The services ``build_services`` makes, over the mock agencies in process."""

    def __init__(self, services: Services, transport: Agencies, pop: Population) -> None:
        self.services, self.transport, self.pop = services, transport, pop
        self.pipeline = services.child

    def variant(self, *, audit: AuditSink | None = None, child_rate: str | None = None) -> ChildPipeline:
        """The same pipeline with another audit sink or child quota, composed as ``build_services`` does."""
        s, p = self.services, self.services.child
        quota = p.quota if child_rate is None else Quota("child", child_rate, "async+memory://", noun="look-ups")
        audit = audit or s.audit
        return ChildPipeline(s.settings, s.connectors, p.fanout, p.linker, s.policy, s.table, audit, s.notifier, quota)

    async def records(self, request_id: str) -> list[dict[str, Any]]:
        return await self.services.audit.records(requestId=request_id)


@pytest.fixture(scope="module")
def pop() -> Population:
    return Population.generate(CHILDREN, 1)


@pytest.fixture(scope="module")
async def gateway(pop: Population, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    audit = tmp_path_factory.mktemp("audit")
    settings = Settings(mode="development", audit_path=audit, linkage_children=CHILDREN, agency_retries=0)
    transport = Agencies(pop)
    async with services(transport, settings, build_schema(settings)) as built:
        yield Gateway(built, transport, pop)


def request(who: Subject, child: str, purpose: str = "safeguarding", *, break_glass: str | None = None) -> ChildRequest:
    return ChildRequest(who, None, child, purpose, break_glass, SELECTION, PATH, f"unit-child-{next(_ids)}")


def one_of(pop: Population, kind: str) -> Child:
    """The first child of ``kind`` without a shield ("ordinary": nothing that restricts anything)."""
    return next(c for c in pop.of_kind(kind) if not c.shielded)


def nobody(pop: Population) -> str:
    """A valid NHS number no agency holds."""
    for n in itertools.count(999_000_000):
        check = nhs_check_digit(str(n))
        if check is not None and (number := f"{n}{check}") not in pop.by_nhs:
            return number
    raise AssertionError("unreachable")


def shape(record: dict[str, Any]) -> dict[str, Any]:
    """An audit record without what differs between any two requests (when, which, the chain)."""
    return {k: v for k, v in record.items() if k not in {"at", "requestId", "childId", "hash", "prev"}}


async def run(pipeline: ChildPipeline, transport: Agencies, req: ChildRequest) -> tuple[ChildAnswer, int]:
    """The answer, and how many agency calls it took."""
    before = transport.total()
    answer = await pipeline.run(req)
    return answer, transport.total() - before


class Held(AuditSink):
    """Keeps every record, holding each write until released."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def write(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.entered.set()
        await self.release.wait()


# -- a child found, and one nobody holds ------------------------------------------------------------


async def test_a_child_found_is_returned_and_recorded_before_the_answer_leaves(gateway: Gateway) -> None:
    child = one_of(gateway.pop, "ordinary")
    held = Held()
    req = request(SOCIAL_WORKER, child.nhs_number)
    task = asyncio.create_task(gateway.variant(audit=held).run(req))
    await asyncio.wait_for(held.entered.wait(), 5)
    await asyncio.sleep(0.05)
    assert not task.done()  # the answer waits for its record to be written
    held.release.set()
    answer = await task
    assert answer.data is not None and answer.data.data is not None
    spine = gateway.pop.health[child.nhs_number].who
    assert answer.data.data["id"] == child.nhs_number
    assert answer.data.data["name"] == {"given": spine.given, "family": spine.family}
    assert answer.data.data["address"] == {"postcode": spine.postcode}
    assert answer.withheld == []
    [record] = held.events
    assert record["type"] == "child.read" and record["childId"] == child.nhs_number
    assert record["purpose"] == "safeguarding" and record["practitioner"] == SOCIAL_WORKER.practitioner_id
    assert record["agenciesCalled"] == sorted(answer.agencies_called)
    assert "child.name.given" in record["fieldsReturned"]
    # paths and reasons, never values
    assert spine.family not in orjson.dumps(record).decode()


async def test_an_nhs_number_nobody_holds_is_not_found_and_still_on_the_record(gateway: Gateway) -> None:
    req = request(SOCIAL_WORKER, nobody(gateway.pop))
    with pytest.raises(ChildNotFound) as refused:
        await gateway.pipeline.run(req)
    assert refused.value.code == "NOT_FOUND"
    [record] = await gateway.records(req.request_id)
    assert record["type"] == "child.read" and record["outcome"] == "not-found"
    assert record["childId"] == req.child_id and "health" in record["agenciesCalled"]


@pytest.mark.parametrize("child_id", ["9434765918", "943476591", "94347659190", "not-a-number", ""])
async def test_an_id_that_is_not_a_valid_nhs_number_is_a_bad_request_and_no_agency_is_called(
    gateway: Gateway, child_id: str
) -> None:
    before = gateway.transport.total()
    with pytest.raises(BadRequest) as refused:
        await gateway.pipeline.run(request(SOCIAL_WORKER, child_id))
    assert refused.value.code == "BAD_REQUEST"
    assert gateway.transport.total() == before


# -- refused before anything is known about the child -----------------------------------------------


@pytest.mark.parametrize(
    ("who", "purpose", "reason"),
    [
        (TEACHER, "emergency", "PURPOSE_NOT_PERMITTED"),
        (subject("police-officer"), "routine-care", "PURPOSE_NOT_PERMITTED"),
        (AUDITOR, "audit", "AUDITOR_NO_CHILD_DATA"),
        (Subject("P000012", "voluntary-worker", "police", True), "safeguarding", "ROLE_NOT_OF_AGENCY"),
    ],
)
async def test_a_requester_who_may_not_ask_about_any_child_is_refused_alike_for_a_real_and_a_made_up_one(
    gateway: Gateway, who: Subject, purpose: str, reason: str
) -> None:
    real = request(who, one_of(gateway.pop, "police-known").nhs_number, purpose)
    made_up = request(who, nobody(gateway.pop), purpose)
    answers = [await run(gateway.pipeline, gateway.transport, r) for r in (real, made_up)]
    for answer, calls in answers:
        assert calls == 0
        assert answer.data is None and answer.agencies_called == frozenset()
        assert answer.withheld == [Withheld(PATH, reason)]
    [on_real] = await gateway.records(real.request_id)
    [on_made_up] = await gateway.records(made_up.request_id)
    assert on_real["type"] == "child.refused" and on_real["reason"] == reason
    assert on_real["childId"] == real.child_id and on_made_up["childId"] == made_up.child_id
    assert shape(on_real) == shape(on_made_up)


async def test_the_child_quota_refuses_past_its_rate_on_the_record_and_before_any_agency(gateway: Gateway) -> None:
    pipeline = gateway.variant(child_rate="2/minute")
    child = one_of(gateway.pop, "ordinary").nhs_number
    with pytest.raises(BadRequest):  # arguments that are not valid do not count
        await pipeline.run(request(SOCIAL_WORKER, "123"))
    for _ in range(2):
        answer, _ = await run(pipeline, gateway.transport, request(SOCIAL_WORKER, child))
        assert answer.data is not None
    over = request(SOCIAL_WORKER, child)
    before = gateway.transport.total()
    with pytest.raises(RateLimited) as refused:
        await pipeline.run(over)
    assert refused.value.code == "RATE_LIMITED"
    assert gateway.transport.total() == before
    [record] = await gateway.records(over.request_id)
    assert record["type"] == "child.rate-limited" and record["childId"] == child
    # another practitioner's window is their own
    answer, _ = await run(pipeline, gateway.transport, request(GP, child))
    assert answer.data is not None


# -- break-glass ------------------------------------------------------------------------------------


@pytest.mark.parametrize("justification", ["", "urgent", "   too short, padded   ", "x" * 19])
async def test_a_break_glass_justification_under_twenty_characters_is_refused_and_recorded(
    gateway: Gateway, justification: str
) -> None:
    child = one_of(gateway.pop, "ordinary").nhs_number
    req = request(SOCIAL_WORKER, child, break_glass=justification)
    before = gateway.transport.total()
    with pytest.raises(BreakGlassRefused) as refused:
        await gateway.pipeline.run(req)
    assert refused.value.code == "BREAK_GLASS_REFUSED"
    assert gateway.transport.total() == before
    [record] = await gateway.records(req.request_id)
    assert record["type"] == "break-glass.refused" and record["why"] == "justification too short"


@pytest.mark.parametrize(("who", "purpose"), [(GP, "safeguarding"), (SOCIAL_WORKER, "routine-care")])
async def test_break_glass_the_policy_does_not_grant_is_refused_and_recorded(
    gateway: Gateway, who: Subject, purpose: str
) -> None:
    shielded = next(gateway.pop.of_kind("shielded"))
    req = request(who, shielded.nhs_number, purpose, break_glass=JUSTIFICATION)
    with pytest.raises(BreakGlassRefused):
        await gateway.pipeline.run(req)
    [record] = await gateway.records(req.request_id)
    assert record["type"] == "break-glass.refused" and record["breakGlass"] == JUSTIFICATION


async def test_break_glass_by_a_child_protection_role_lifts_the_shield_and_raises_an_alert(gateway: Gateway) -> None:
    # linked with certainty everywhere policy takes the grade from, so nothing but the shield withholds the address
    shielded = next(
        c for c in gateway.pop.of_kind("shielded") if not {"refuge", "weak-match", "missing-nhs-number"} & c.kinds
    )
    plain = await gateway.pipeline.run(request(SOCIAL_WORKER, shielded.nhs_number))
    assert plain.data is not None and plain.data.data is not None
    assert plain.data.data["address"] is None
    assert Withheld((*PATH, "address"), "SHIELDED") in plain.withheld
    req = request(SOCIAL_WORKER, shielded.nhs_number, break_glass=JUSTIFICATION)
    answer = await gateway.pipeline.run(req)
    assert answer.data is not None and answer.data.data is not None
    assert answer.data.data["address"] == {"postcode": gateway.pop.health[shielded.nhs_number].who.postcode}
    records = await gateway.records(req.request_id)
    assert [r["type"] for r in records].count("child.read") == 1
    assert {r["reason"] for r in records if r["type"] == "alert"} == {"BREAK_GLASS", "SHIELD_OVERRIDE"}


# -- facts fail closed, end to end --------------------------------------------------------------------


async def test_when_social_care_cannot_answer_only_what_a_shield_leaves_is_shown(gateway: Gateway) -> None:
    child = one_of(gateway.pop, "ordinary")
    await set_faults(gateway.transport, "social-care", error_rate=1.0)
    try:
        answer = await gateway.pipeline.run(request(GP, child.nhs_number))
    finally:
        await set_faults(gateway.transport, "social-care")
    assert answer.data is not None and answer.data.data is not None
    assert answer.data.data["name"] is not None and answer.data.data["address"] is None
    assert Withheld((*PATH, "address"), "CHILD_FACTS_UNAVAILABLE") in answer.withheld
    healthy = await gateway.pipeline.run(request(GP, child.nhs_number))
    assert healthy.data is not None and healthy.data.data is not None and healthy.data.data["address"] is not None


# -- the audit trail cannot be written ------------------------------------------------------------------


@pytest.mark.parametrize("found", [True, False])
async def test_when_the_audit_trail_cannot_be_written_nothing_is_returned(
    gateway: Gateway, tmp_path: Path, found: bool
) -> None:
    (tmp_path / "not-a-directory").write_text("")
    broken = JsonlAuditSink(tmp_path / "not-a-directory" / "unit.jsonl")
    child = one_of(gateway.pop, "ordinary").nhs_number if found else nobody(gateway.pop)
    with pytest.raises(AuditUnavailable) as refused:
        await gateway.variant(audit=broken).run(request(SOCIAL_WORKER, child))
    assert refused.value.code == "AUDIT_UNAVAILABLE"
