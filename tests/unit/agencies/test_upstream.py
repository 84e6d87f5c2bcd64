"""The upstream client over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.agencies.upstream import AiohttpUpstream, HttpxUpstream, UpstreamClient, UpstreamTimeout


async def test_a_cookie_one_agency_answer_sets_never_rides_on_a_later_call() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "practitioner-a", path="/")
        return response

    app = web.Application()
    app.router.add_get("/record", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        upstream = AiohttpUpstream()
        try:
            for practitioner in ("a", "b"):
                r = await upstream.get(
                    # by name: aiohttp's default jar never keeps cookies from a bare IP address
                    f"http://localhost:{server.port}/record",
                    params={},
                    headers={"X-Practitioner-Id": practitioner},
                    timeout=5,
                    max_bytes=1024,
                )
                assert r.status == 200 and r.body == b'{"ok": true}'
        finally:
            await upstream.aclose()
    assert seen == [None, None]


async def test_a_call_past_its_timeout_is_a_timeout_and_ends_at_the_timeout() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/slow", slow)
    async with TestServer(app, host="127.0.0.1") as server:
        upstream = AiohttpUpstream()
        try:
            started = time.perf_counter()
            with pytest.raises(UpstreamTimeout):
                await upstream.get(str(server.make_url("/slow")), params={}, headers={}, timeout=0.2, max_bytes=1024)
            assert time.perf_counter() - started < 1.0
        finally:
            await upstream.aclose()


@pytest.mark.parametrize("make", [AiohttpUpstream, HttpxUpstream], ids=["aiohttp", "httpx"])
async def test_the_query_built_into_the_url_reaches_the_agency(make: type[UpstreamClient]) -> None:
    """Callers put the lookup's query in the URL (percent-encoded) and pass no separate params: a client
    that dropped it would send every search without the name and date of birth."""
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/api/persons", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        upstream = make()
        try:
            url = str(server.make_url("/api/persons")) + "?surname=O%27Brien&dob=20201008"
            r = await upstream.get(url, params={}, headers={}, timeout=5, max_bytes=1024)
            assert r.status == 200
        finally:
            await upstream.aclose()
    assert seen == [{"surname": "O'Brien", "dob": "20201008"}]
