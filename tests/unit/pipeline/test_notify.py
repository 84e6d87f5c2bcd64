"""The notification outbox: batched per agency, off the request's path, and nothing lost unrecorded."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from gateway.agencies.connectors import load_connectors
from gateway.agencies.upstream import HttpxUpstream
from gateway.config import PROJECT_ROOT
from gateway.pipeline.audit import AuditSink
from gateway.pipeline.notify import Notifier

CONNECTORS = load_connectors([PROJECT_ROOT / "connectors"], spine="health", development=True)


class Records(AuditSink):
    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []

    async def write(self, event: dict[str, Any]) -> None:
        self.written.append(event)


class Agency:
    """An agency's notification endpoint answering ``status``; records every POST body."""

    def __init__(self, status: int = 202, delay_s: float = 0.0) -> None:
        self.status, self.delay_s = status, delay_s
        self.posts: list[dict[str, Any]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self.delay_s)
        body = orjson.loads(request.content)
        self.posts.append({"url": str(request.url), "headers": dict(request.headers), **body})
        return httpx.Response(self.status, json={})


def notifier(agency: Agency, sink: Records, **kw: Any) -> Notifier:
    upstream = HttpxUpstream(transport=httpx.MockTransport(agency))
    return Notifier(CONNECTORS, upstream, sink, **kw)


def event(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"event": "restricted-read", "childId": f"c{n}"}, {"kind": "notify.failed", "childId": f"c{n}"}


async def test_reads_within_one_window_go_to_the_agency_as_one_batch_with_its_credential() -> None:
    agency, sink = Agency(), Records()
    out = notifier(agency, sink, batch_ms=100)
    for n in range(5):  # reads arriving over 40 ms, inside the window
        await out.submit("police", *event(n))
        await asyncio.sleep(0.01)
    assert agency.posts == []  # nothing on the request's path
    await asyncio.sleep(0.2)
    assert len(agency.posts) == 1
    post = agency.posts[0]
    assert [e["childId"] for e in post["events"]] == [f"c{n}" for n in range(5)]
    assert post["url"].endswith("/notifications")
    credential = {k.lower(): v for k, v in CONNECTORS["police"].headers.items()}
    assert credential.items() <= post["headers"].items()  # httpx gives header names in lower case
    assert sink.written == [] and out.queued() == 0


async def test_an_agency_that_refuses_the_batch_gets_every_event_recorded_as_failed() -> None:
    agency, sink = Agency(status=503), Records()
    out = notifier(agency, sink, batch_ms=10)
    for n in range(3):
        await out.submit("housing", *event(n))
    await asyncio.sleep(0.2)
    assert len(agency.posts) == 1
    assert [(r["kind"], r["childId"], r["why"]) for r in sink.written] == [
        ("notify.failed", f"c{n}", "status 503") for n in range(3)
    ]


async def test_no_endpoint_and_a_full_outbox_are_recorded_not_dropped() -> None:
    agency, sink = Agency(), Records()
    out = notifier(agency, sink, batch_ms=1000, max_queued=2)
    await out.submit("health", *event(0))  # health's connector has no notify endpoint
    for n in range(1, 4):
        await out.submit("police", *event(n))
    assert [(r["childId"], r["why"]) for r in sink.written] == [
        ("c0", "no notification endpoint configured"),
        ("c3", "notification outbox full"),
    ]
    await out.aclose()  # shutdown delivers the rest at once, without waiting out the window
    assert [e["childId"] for e in agency.posts[0]["events"]] == ["c1", "c2"]


async def test_events_that_cannot_be_delivered_before_shutdown_are_recorded() -> None:
    agency, sink = Agency(delay_s=5), Records()
    out = notifier(agency, sink, batch_ms=1000)
    for n in range(2):
        await out.submit("youth-justice", *event(n))
    await out.aclose(timeout_s=0.1)
    assert sorted((r["childId"], r["why"]) for r in sink.written) == [
        ("c0", "gateway shut down before delivery"),
        ("c1", "gateway shut down before delivery"),
    ]


@pytest.mark.parametrize("bad", [b"not json", b'{"event": "restricted-read"}', b'{"events": [1]}'])
async def test_the_mock_agencies_refuse_a_notification_body_that_is_not_a_batch(bad: bytes) -> None:
    from mocks.population import Population
    from mocks.runner import build_all

    app = build_all(Population.generate(50, 1))["police"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://police") as client:
        r = await client.post("/notifications", content=bad, headers=CONNECTORS["police"].headers)
    assert r.status_code == 400
