"""Fan out: call every planned agency at once, each under its own deadline and the request's.

Every planned agency gets a task at the start. A task whose lookup needs another agency's answer
(a name-and-date-of-birth search needs health's demographics; a cross-reference needs the record that
holds it) awaits just that answer, so independent calls are all in flight together and dependent ones
start the moment their input arrives. Each agency's outcome is an :class:`AgencyAnswer`; a failure
is recorded on it, never raised, so one agency down never fails the request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import importlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson
from yarl import URL

from gateway.agencies.connectors import Connector, Lookup
from gateway.agencies.resilience import CircuitOpen, Guards
from gateway.agencies.upstream import (
    UpstreamClient,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
)
from gateway.errors import AgencyBadResponse, AgencyError, AgencyTimeout, AgencyUnavailable
from gateway.pipeline.link import Demographics, Matcher, extract_demographics
from gateway.types import MATCH_ORDER

log = logging.getLogger("gateway.fanout")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^}]*))?\}")


@dataclass(slots=True)
class LinkedRecord:
    raw: Any
    grade: str  # certain / probable / possible
    via: str  # nhs_number / cross_reference / demographics
    demographics: Demographics | None = None  # when they were extracted to grade the match


@dataclass(slots=True)
class AgencyAnswer:
    agency: str
    status: str = "ok"  # ok | unavailable | timeout | bad-response | circuit-open | not-called
    records: list[LinkedRecord] = field(default_factory=list)
    latency_ms: float | None = None
    error: AgencyError | None = None
    demographics: Demographics | None = None  # the first record's, extracted once (for the spine)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the gateway forwards to every agency with each call."""

    practitioner_id: str
    purpose: str
    request_id: str

    def headers(self) -> dict[str, str]:
        return {"X-Practitioner-Id": self.practitioner_id, "X-Purpose": self.purpose, "X-Request-Id": self.request_id}


class _Skip(Exception):
    """A lookup cannot run (its input is missing); try the next one."""


@functools.lru_cache(maxsize=4096)
def _template(template: str) -> tuple[tuple[str, str | None, str | None], ...]:
    """A path or parameter template as (literal, placeholder, date format) parts, parsed once."""
    parts: list[tuple[str, str | None, str | None]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        parts.append((template[pos : m.start()], m.group(1), m.group(2)))
        pos = m.end()
    parts.append((template[pos:], None, None))
    return tuple(parts)


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quote(text: str) -> str:
    """Percent-encoded as ``quote(text, safe="")``; identifiers and dates need no encoding, so skip it."""
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="")


def _fill(template: str, values: Mapping[str, Any]) -> str:
    """The template with its placeholders filled, each value percent-encoded."""
    out: list[str] = []
    for literal, name, fmt in _template(template):
        out.append(literal)
        if name is None:
            continue
        value = values.get(name)
        if value is None or value == "":
            raise _Skip(name)
        if isinstance(value, dt.date):
            value = value.strftime(fmt or "%Y-%m-%d")
        out.append(_quote(str(value)))
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _query_template(params: tuple[tuple[str, str], ...]) -> str:
    """A lookup's query parameters as one template (``family={family}&...``): keys encoded once here,
    values as they are filled; what ``urlencode(..., quote_via=quote)`` gives, without its per-call cost."""

    def encoded(template: str) -> str:  # literal text encoded now; placeholders kept for _fill
        return "".join(
            quote(literal, safe="") + ("" if name is None else "{" + name + (f":{fmt}" if fmt else "") + "}")
            for literal, name, fmt in _template(template)
        )

    return "&".join(f"{quote(key, safe='')}={encoded(template)}" for key, template in params)


def _decoder(connector: Connector) -> Callable[[bytes], Any]:
    if connector.spec.adapter:
        module = importlib.import_module(connector.spec.adapter)
        decode: Callable[[bytes], Any] = module.decode
        return decode
    return orjson.loads


class FanOut:
    """Calls agencies for one child. Built once at start-up; :meth:`run` is per request."""

    def __init__(
        self,
        connectors: Mapping[str, Connector],
        upstream: UpstreamClient,
        matcher: Matcher,
        guards: Guards,
        *,
        base_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.connectors = connectors
        self.upstream = upstream
        self.matcher = matcher
        self.guards = guards
        self._errors = guards.metrics.agency_errors
        self.base_urls = {  # percent-encoded once here: calls append encoded paths and queries to them
            a: str(URL((base_urls or {}).get(a, c.spec.base_url))).rstrip("/") for a, c in connectors.items()
        }
        self.decoders = {a: _decoder(c) for a, c in connectors.items()}

    async def run(
        self, agencies: frozenset[str], nhs_number: str, call: CallContext, deadline: float
    ) -> dict[str, AgencyAnswer]:
        """Answers for every agency in ``agencies``; ``deadline`` is a ``loop.time()`` value."""
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[AgencyAnswer]] = {a: loop.create_future() for a in agencies}
        headers = call.headers()

        async def one(agency: str) -> None:
            answer = await self._agency(agency, nhs_number, headers, deadline, futures)
            futures[agency].set_result(answer)

        tasks = [asyncio.create_task(one(a)) for a in agencies]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            raise
        return {a: f.result() for a, f in futures.items()}

    async def _agency(
        self,
        agency: str,
        nhs_number: str,
        headers: dict[str, str],
        deadline: float,
        futures: Mapping[str, asyncio.Future[AgencyAnswer]],
    ) -> AgencyAnswer:
        connector = self.connectors[agency]
        answer = AgencyAnswer(agency)
        started = time.perf_counter()
        spine: Demographics | None = None
        try:
            for lookup in connector.lookups:
                values: dict[str, Any] = {"nhs_number": nhs_number}
                by = lookup.spec.by
                if by == "demographics":
                    spine = await self._spine(futures)
                    if spine is None:
                        continue
                    values.update(given=spine.given, family=spine.family, dob=spine.dob, postcode=spine.postcode)
                elif by == "cross_reference":
                    keys = await self._cross_references(lookup, futures)
                    if not keys:
                        continue
                    values["key"] = keys[0]
                try:
                    raw = await self._call(connector, lookup, values, headers, deadline)
                except _Skip:
                    continue
                records = self._link(connector, lookup, raw, nhs_number, spine)
                if records:
                    answer.records = records
                    break
            if connector.lookups and all(lk.spec.by == "demographics" for lk in connector.lookups) and spine is None:
                raise AgencyUnavailable(agency, f"{agency} could not be searched: no demographics to search by")
        except AgencyError as exc:
            answer.error = exc
            answer.status = (
                "circuit-open"
                if isinstance(exc, CircuitOpen)
                else {"AGENCY_TIMEOUT": "timeout", "AGENCY_BAD_RESPONSE": "bad-response"}.get(exc.code, "unavailable")
            )
            answer.records = []
            self._errors.labels(agency, answer.status).inc()
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return answer

    async def search(self, agency: str, values: Mapping[str, Any], call: CallContext, deadline: float) -> list[Any]:
        """Run an agency's demographic ``search`` lookup; raw records, unfiltered (the caller grades them)."""
        connector = self.connectors[agency]
        if connector.search is None:
            return []
        try:
            raw = await self._call(connector, connector.search, values, call.headers(), deadline)
        except _Skip:
            return []
        if raw is None:
            return []
        found = connector.search.records(raw)
        if not isinstance(found, list):
            raise AgencyBadResponse(agency, f"{agency} sent search results in an unexpected shape")
        return [r for r in found if isinstance(r, dict)]

    async def _spine(self, futures: Mapping[str, asyncio.Future[AgencyAnswer]]) -> Demographics | None:
        health = futures.get("health")
        if health is None:
            return None
        answer = await asyncio.shield(health)
        if not answer.records:
            return None
        if answer.demographics is None:  # several agencies search by it: extract (and parse the DOB) once
            answer.demographics = extract_demographics(self.connectors["health"], answer.records[0].raw)
        return answer.demographics

    async def _cross_references(self, lookup: Lookup, futures: Mapping[str, asyncio.Future[AgencyAnswer]]) -> list[str]:
        source = lookup.spec.from_agency
        if source is None or source not in futures:
            return []
        answer = await asyncio.shield(futures[source])
        extractor = self.connectors[source].cross_references
        keys: list[str] = []
        for record in answer.records:
            refs = extractor(record.raw) if extractor else None
            if isinstance(refs, dict) and refs.get(lookup.spec.key):
                keys.append(str(refs[lookup.spec.key]))
        return keys

    async def _call(
        self,
        connector: Connector,
        lookup: Lookup,
        values: Mapping[str, Any],
        headers: dict[str, str],
        deadline: float,
    ) -> Any:
        agency = connector.agency
        spec = lookup.spec
        # The whole URL is built and percent-encoded here, so the client need not parse and re-quote it.
        url = self.base_urls[agency] + _fill(spec.path, values)
        if spec.params:
            url += "?" + _fill(_query_template(tuple(spec.params.items())), values)
        request_headers = {**connector.headers, **headers}
        max_bytes = connector.spec.max_body_bytes
        agency_timeout = connector.spec.timeout_ms / 1000

        async def attempt(remaining: float) -> UpstreamResponse:
            try:
                response = await self.upstream.get(
                    url,
                    params={},
                    headers=request_headers,
                    timeout=min(agency_timeout, remaining),
                    max_bytes=max_bytes,
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

        response = await self.guards[agency].call(attempt, deadline)
        if response.status in (401, 403):  # our credential is refused: a retry would not help
            log.warning("agency refused the gateway's credential", extra={"agency": agency, "status": response.status})
            raise AgencyUnavailable(agency, f"{agency} answered with an error ({response.status})")
        if response.status in spec.not_found:
            return None
        if response.status != 200:
            raise AgencyBadResponse(agency, f"{agency} answered with an unexpected status ({response.status})")
        try:
            return self.decoders[agency](response.body)
        except Exception as exc:  # any decoder failure means the agency sent something unusable
            raise AgencyBadResponse(agency, f"{agency} sent a body that could not be read") from exc

    def _link(
        self, connector: Connector, lookup: Lookup, raw: Any, nhs_number: str, spine: Demographics | None
    ) -> list[LinkedRecord]:
        if raw is None:
            return []
        agency = connector.agency
        try:
            found = lookup.records(raw)
            if found is None:
                return []
            if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
                raise TypeError("records are not a list of objects")
            out: list[LinkedRecord] = []
            by = lookup.spec.by
            for record in found:
                if by == "demographics":
                    if spine is None:
                        continue
                    theirs = extract_demographics(connector, record)
                    grade = self.matcher.grade(spine, theirs)
                    if grade is not None:
                        out.append(LinkedRecord(record, grade, by, theirs))
                    continue
                if connector.nhs_number is not None and by == "nhs_number":
                    held = connector.nhs_number(record)
                    if held is not None and str(held) != nhs_number:
                        continue  # never attach a record that names another child
                out.append(LinkedRecord(record, "certain", by))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise AgencyBadResponse(agency, f"{agency} sent records in an unexpected shape") from exc
        out.sort(key=lambda r: MATCH_ORDER[r.grade])
        return out
