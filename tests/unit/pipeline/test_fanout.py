"""Fan-out: lookups scheduled by data dependency give exactly the records the sequential order gives."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.agencies.connectors import load_connectors, parse_connector
from gateway.config import PROJECT_ROOT
from gateway.errors import ConfigError
from gateway.pipeline.fanout import FanOut
from gateway.pipeline.records import AgencyAnswer, CallContext
from mocks.population import Child, Population
from support.inprocess import Agencies, fanout, run_all

CALL = CallContext("P000001", "safeguarding", "test-fanout")
CHILDREN = 3000  # the default population, every child


def linked(answers: Mapping[str, AgencyAnswer]) -> dict[str, list[Any]]:
    return {agency: [(r.raw, r.grade, r.via) for r in answer.records] for agency, answer in answers.items()}


async def linked_and_calls(fan: FanOut, children: list[Child], transport: Agencies) -> tuple[list[Any], int]:
    before = transport.total()
    answers = await run_all(fan, children, CALL)
    return [linked(a) for a in answers], transport.total() - before


async def test_both_orders_link_exactly_the_same_records_over_the_whole_population() -> None:
    pop = Population.generate(CHILDREN, 1)
    # answers in the orders real agencies give them: each call 0-20 ms, drawn
    transport = Agencies(pop, latency_ms=(0.0, 20.0))
    concurrent = fanout(transport, sequential=frozenset(), children=CHILDREN)
    sequential = fanout(transport, sequential=frozenset(concurrent.connectors), children=CHILDREN)
    at_once, at_once_calls = await linked_and_calls(concurrent, pop.children, transport)
    in_order, in_order_calls = await linked_and_calls(sequential, pop.children, transport)
    differ = [c.nhs_number for c, a, b in zip(pop.children, at_once, in_order, strict=True) if a != b]
    assert differ == [], f"{len(differ)} children linked differently, e.g. {differ[:5]}"
    # the comparison covers every way a record is found, fallbacks and cross-references included
    ways = Counter(via for answers in in_order for records in answers.values() for _, _, via in records)
    assert {"nhs_number", "demographics", "cross_reference"} <= set(ways), ways
    # the sequential order stops at the first lookup that finds the child
    assert at_once_calls > in_order_calls


def test_a_connector_may_look_up_in_order_only_where_that_timing_tells_nothing() -> None:
    text = (PROJECT_ROOT / "connectors" / "youth-justice.yaml").read_text()
    with pytest.raises(ConfigError, match="lookup_mode: sequential would let a requester time"):
        parse_connector(text + "\nlookup_mode: sequential\n", development=True)
    spine = (PROJECT_ROOT / "connectors" / "health.yaml").read_text()
    assert parse_connector(spine + "\nlookup_mode: sequential\n", development=True).spec.lookup_mode == "sequential"


def test_lookups_that_wait_on_each_other_in_a_circle_are_refused_at_load(tmp_path: Path) -> None:
    """Each would wait for the other until the request's deadline: the files are refused instead."""
    for name in ("health.yaml", "social-care.yaml", "education.yaml"):
        (tmp_path / name).write_text((PROJECT_ROOT / "connectors" / name).read_text())
    social_care = tmp_path / "social-care.yaml"
    social_care.write_text(
        social_care.read_text().replace(
            "lookups:\n",
            "lookups:\n  - by: cross_reference\n    from: education\n    key: PersonId\n    path: /api/persons/{key}\n"
            '    records: "[@]"\n',
            1,
        )
    )
    with pytest.raises(ConfigError) as refused:
        load_connectors([tmp_path], {}, spine="health", development=True)
    assert "its lookups wait on education -> social-care -> education, which waits on it again" in str(refused.value)


def test_an_agency_that_supplies_facts_never_looks_up_in_order() -> None:
    """A fallback left out is candidates unseen, and a shield or a refuge counts from candidates."""
    text = (PROJECT_ROOT / "connectors" / "social-care.yaml").read_text()
    with pytest.raises(ConfigError, match="an agency that supplies facts looks up concurrently"):
        parse_connector(
            text.replace("presence_label: involvement", "presence_label: identity") + "\nlookup_mode: sequential\n",
            development=True,
        )


async def test_a_lookup_that_failed_leads_to_no_cross_reference() -> None:
    """Social care's NHS-number lookup fails while its name search links a record carrying a UPN: the
    agency's part has failed, as a chain would have stopped there, so education must not follow that UPN."""
    pop = Population.generate(CHILDREN, 1)
    child = next(c for c in pop.children if c.social_care_id and c.upn and c.nhs_number)
    transport = Agencies(pop)
    concurrent = fanout(transport, sequential=frozenset(), children=CHILDREN)
    seen: list[str] = []
    original = transport.handle_async_request

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if "nhs_number=" in str(request.url) and transport.names[request.url.port or 0] == "social-care":
            return httpx.Response(504)
        return await original(request)

    transport.handle_async_request = handle  # type: ignore[method-assign]
    deadline = asyncio.get_running_loop().time() + 30
    answers = await concurrent.run(frozenset(concurrent.connectors), child.nhs_number, CALL, deadline)
    assert answers["social-care"].status != "ok"
    assert not any(f"/v1/pupils/{child.upn}" in url for url in seen)
