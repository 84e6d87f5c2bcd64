"""The agency client over real HTTP on loopback: hedged reads."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.agencies.client import HEDGE_MIN_SAMPLES, AgencyClient
from gateway.agencies.resilience import Guards
from gateway.agencies.upstream import AiohttpUpstream
from gateway.errors import AgencyTimeout
from gateway.metrics import Metrics

SLOW_S = 2.0


def agency() -> tuple[web.Application, Counter[str]]:
    """Answers at once, except that the first request for a path under /stuck/ hangs for SLOW_S (and /down/
    always does): a tail-latency call whose repeat would be quick."""
    seen: Counter[str] = Counter()

    async def record(request: web.Request) -> web.Response:
        path = request.path
        seen[path] += 1
        if path.startswith("/down/") or (path.startswith("/stuck/") and seen[path] == 1):
            await asyncio.sleep(SLOW_S)
        return web.json_response({"path": path, "attempt": seen[path]})

    app = web.Application()
    app.router.add_get("/{kind}/{n}", record)
    return app, seen


async def reads(
    hedge: bool, paths: list[str], *, max_in_flight: int = 16
) -> tuple[list[object], list[float], Counter[str], float]:
    """Warm the client on quick reads, then read ``paths``: each answer (or error), each read's seconds, the
    requests the agency saw, and the hedges counted in the metrics."""
    app, seen = agency()
    metrics = Metrics()
    guards = Guards(metrics)
    async with TestServer(app, host="127.0.0.1") as server:
        upstream = AiohttpUpstream()
        client = AgencyClient(
            "camhs",
            str(server.make_url("")),
            {},
            upstream,
            guards.add("camhs", retries=0, backoff_s=0, max_in_flight=max_in_flight, threshold=100, reset_s=1),
            timeout_s=SLOW_S / 2,
            hedge=hedge,
        )
        loop = asyncio.get_running_loop()
        try:
            for i in range(HEDGE_MIN_SAMPLES + 10):
                await client.get(f"/quick/{i}", {}, {}, {}, loop.time() + 5)
            answers: list[object] = []
            took: list[float] = []
            for path in paths:
                started = time.perf_counter()
                try:
                    answers.append(await client.get(path, {}, {}, {}, loop.time() + 5))
                except AgencyTimeout as exc:
                    answers.append(exc)
                took.append(time.perf_counter() - started)
        finally:
            await upstream.aclose()
    hedged = metrics.registry.get_sample_value("wardgate_agency_hedged_total", {"agency": "camhs"}) or 0.0
    return answers, took, seen, hedged


async def test_a_read_slower_than_the_agencys_recent_p95_is_tried_again_and_the_first_answer_wins() -> None:
    answers, took, seen, hedged = await reads(True, ["/stuck/1"])
    assert answers == [{"path": "/stuck/1", "attempt": 2}]  # the second attempt's answer
    assert took[0] < SLOW_S / 4  # not the hung attempt's time, nor the timeout
    assert seen["/stuck/1"] == 2 and hedged == 1


async def test_without_hedging_a_slow_read_waits_for_its_timeout() -> None:
    answers, took, seen, hedged = await reads(False, ["/stuck/1"])
    assert isinstance(answers[0], AgencyTimeout)
    assert took[0] >= SLOW_S / 2 * 0.9
    assert seen["/stuck/1"] == 1 and hedged == 0


async def test_when_both_attempts_are_slow_the_read_ends_at_its_timeout_with_one_hedge() -> None:
    answers, took, seen, hedged = await reads(True, ["/down/1"])
    assert isinstance(answers[0], AgencyTimeout)
    assert took[0] < SLOW_S / 2 + 0.1  # the call's own timeout bounds both attempts together
    assert seen["/down/1"] == 2 and hedged == 1


async def test_hedging_costs_the_agency_few_extra_calls_when_it_answers_quickly() -> None:
    """Only reads past the recent 95th percentile are repeated: about one in twenty, by construction."""
    paths = [f"/quick/{i}" for i in range(100, 300)]
    answers, _, seen, hedged = await reads(True, paths)
    assert [a["path"] for a in answers if isinstance(a, dict)] == paths
    # a second attempt the first answer overtakes may be cancelled before the agency sees it
    assert sum(seen[p] for p in paths) - len(paths) <= hedged <= len(paths) * 0.15


async def test_without_hedging_no_read_is_ever_repeated() -> None:
    paths = [f"/quick/{i}" for i in range(100, 300)]
    _, _, seen, hedged = await reads(False, [*paths, "/stuck/1"])
    assert all(n == 1 for n in seen.values()) and hedged == 0


async def test_a_hedge_never_takes_the_agency_past_its_in_flight_cap() -> None:
    answers, _, seen, hedged = await reads(True, ["/stuck/1"], max_in_flight=1)
    assert isinstance(answers[0], AgencyTimeout)  # the one slot is the slow attempt's: no second attempt
    assert seen["/stuck/1"] == 1 and hedged == 0
