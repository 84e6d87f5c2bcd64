"""Fan-out: lookups scheduled by data dependency give exactly the records the sequential order gives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.agencies.connectors import parse_connector
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
