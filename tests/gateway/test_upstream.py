"""The upstream client over real HTTP on loopback."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.upstream import AiohttpUpstream


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
