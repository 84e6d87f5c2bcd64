"""One agency's API as the gateway calls it: the URL built from a template, the agency's credential and the
who/why headers, its guard (in-flight cap, circuit breaker, retries), and its errors translated once.

    client = AgencyClient("health", "http://127.0.0.1:9101", headers, upstream, guard)
    record = await client.get("/fhir/Patient/{nhs_number}", {}, {"nhs_number": nhs}, forwarded, deadline)

Every way an agency call can fail becomes one :class:`~gateway.errors.AgencyError`, the same for child
lookups, searches and the directory: unreachable, a 5xx or 429, or our credential refused is
``AGENCY_UNAVAILABLE``; no answer in time is ``AGENCY_TIMEOUT``; an answer that cannot be used (an
unexpected status, a body over the size limit or one that cannot be decoded) is ``AGENCY_BAD_RESPONSE``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import orjson
from yarl import URL

from gateway.agencies.resilience import Guard
from gateway.agencies.templates import fill, query_template
from gateway.agencies.upstream import (
    UpstreamClient,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
)
from gateway.errors import AgencyBadResponse, AgencyTimeout, AgencyUnavailable

log = logging.getLogger("gateway.agencies")

Decoder = Callable[[bytes], Any]


class AgencyClient:
    """Reads from one agency. Built once per agency at start-up; :meth:`get` is per call."""

    def __init__(
        self,
        agency: str,
        base_url: str,
        headers: Mapping[str, str],
        upstream: UpstreamClient,
        guard: Guard,
        *,
        decode: Decoder = orjson.loads,
        timeout_s: float = 1.5,
        max_bytes: int = 2 << 20,
        hedge: bool = False,
    ) -> None:
        self.agency = agency
        self.base_url = str(URL(base_url)).rstrip("/")  # percent-encoded once: paths and queries are appended
        self.headers = dict(headers)
        self.upstream = upstream
        self.guard = guard
        self.decode = decode
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        # Hedging (off unless asked for): a read that has taken longer than this agency's recent 95th
        # percentile gets a second attempt, and the first answer wins. Reads are idempotent, so a duplicate
        # costs the agency a call and nothing else.
        self.hedge = hedge
        self._recent: deque[float] = deque(maxlen=HEDGE_WINDOW)
        self._p95: float | None = None
        self._observed = 0

    def url(self, path: str, params: Mapping[str, str], values: Mapping[str, Any]) -> str:
        """The whole URL, percent-encoded here so the client need not parse and re-quote it.
        Raises :class:`~gateway.agencies.templates.MissingValue` when a placeholder has no value."""
        url = self.base_url + fill(path, values)
        if params:
            url += "?" + fill(query_template(tuple(params.items())), values)
        return url

    async def get(
        self,
        path: str,
        params: Mapping[str, str],
        values: Mapping[str, Any],
        forwarded: Mapping[str, str],
        deadline: float,
        *,
        not_found: Collection[int] = (404,),
    ) -> Any:
        """The decoded body, or ``None`` for a status in ``not_found``; ``deadline`` is a ``loop.time()``."""
        url = self.url(path, params, values)
        headers = {**self.headers, **forwarded}
        agency = self.agency

        async def once(remaining: float) -> UpstreamResponse:
            started = time.perf_counter()
            try:
                response = await self.upstream.get(
                    url, params={}, headers=headers, timeout=min(self.timeout_s, remaining), max_bytes=self.max_bytes
                )
            except UpstreamTimeout as exc:
                raise AgencyTimeout(agency, f"{agency} did not answer in time") from exc
            except UpstreamTooLarge as exc:
                raise AgencyBadResponse(agency, f"{agency} sent a body over the size limit") from exc
            except UpstreamUnavailable as exc:
                raise AgencyUnavailable(agency, f"{agency} could not be reached") from exc
            if response.status >= 500 or response.status == 429:
                log.warning("agency answered with an error", extra={"agency": agency, "status": response.status})
                raise AgencyUnavailable(agency, f"{agency} answered with an error ({response.status})")
            if self.hedge:
                self._observe(time.perf_counter() - started)
            return response

        async def attempt(remaining: float) -> UpstreamResponse:
            budget = min(self.timeout_s, remaining)  # both attempts together: the call's timeout, as one attempt
            delay = self._p95 if self.hedge else None
            if delay is None or delay >= budget:
                return await once(budget)
            return await _hedged(once, budget, delay, self.guard)

        response = await self.guard.call(attempt, deadline)
        if response.status in (401, 403):  # our credential is refused: a retry would not help
            log.warning("agency refused the gateway's credential", extra={"agency": agency, "status": response.status})
            raise AgencyUnavailable(agency, f"{agency} answered with an error ({response.status})")
        if response.status in not_found:
            return None
        if response.status != 200:
            raise AgencyBadResponse(agency, f"{agency} answered with an unexpected status ({response.status})")
        try:
            return self.decode(response.body)
        except Exception as exc:  # any decoder failure means the agency sent something unusable
            raise AgencyBadResponse(agency, f"{agency} sent a body that could not be read") from exc

    def _observe(self, seconds: float) -> None:
        self._recent.append(seconds)
        self._observed += 1
        if len(self._recent) >= HEDGE_MIN_SAMPLES and self._observed % HEDGE_EVERY == 0:
            ordered = sorted(self._recent)
            self._p95 = ordered[int(len(ordered) * 0.95)]


HEDGE_WINDOW = 200  # the recent successful reads the 95th percentile is taken over
HEDGE_MIN_SAMPLES = 20  # no hedging until there are this many
HEDGE_EVERY = 10  # the percentile is worked out again every this many reads


async def _hedged(
    once: Callable[[float], Awaitable[UpstreamResponse]], remaining: float, delay: float, guard: Guard
) -> UpstreamResponse:
    """``once`` now, and again after ``delay`` seconds if the first has not answered and the agency's in-flight
    cap has a slot free (a second attempt never waits for one); the first success wins. If both fail, the
    first attempt's error is raised. Whatever ends this call (an answer, an error, the request cancelled)
    ends both attempts."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    first: asyncio.Future[UpstreamResponse] = asyncio.ensure_future(once(remaining))
    attempts = [first]
    try:
        done, _ = await asyncio.wait({first}, timeout=delay)
        if done or not await guard.spare_slot():
            return await first
        guard.hedged.inc()
        second: asyncio.Future[UpstreamResponse] = asyncio.ensure_future(once(remaining - (loop.time() - started)))
        second.add_done_callback(lambda _: guard.free_slot())
        attempts.append(second)
        pending = {first, second}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is None:
                    return task.result()
        return first.result()  # both failed: raises the first attempt's error
    finally:
        for task in attempts:
            if not task.done():
                task.cancel()
