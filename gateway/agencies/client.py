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

import logging
from collections.abc import Callable, Collection, Mapping
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
    ) -> None:
        self.agency = agency
        self.base_url = str(URL(base_url)).rstrip("/")  # percent-encoded once: paths and queries are appended
        self.headers = dict(headers)
        self.upstream = upstream
        self.guard = guard
        self.decode = decode
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

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

        async def attempt(remaining: float) -> UpstreamResponse:
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
            return response

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
