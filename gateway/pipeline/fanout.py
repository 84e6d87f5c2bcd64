"""Fan out: call every planned agency at once, each under its own deadline and the request's.

Every planned agency gets a task at the start, and so does every lookup in its connector. A lookup
whose input is another agency's answer (a name-and-date-of-birth search needs the spine's demographics;
a cross-reference needs the record that holds it) awaits just that answer, so independent calls are all
in flight together and dependent ones start the moment their input arrives.

Every lookup an agency's connector lists is made, not only until one finds the child: which calls are
made, and when the answer is ready, must not tell anyone whether the agency holds a record (a fallback
search made only when the first lookup found nothing is a second round trip a requester could time).
The one exception is an agency whose holding a record is no secret from anyone who may ask about the
child (presence labelled identity): a fallback of theirs whose input arrives after an earlier lookup has
already found the child is left out. Not for involvement: a shield, a weak match or missing facts can hide
even that an agency works with the child, and one call fewer in the second round is a small but real
difference in how long the answer takes.
Precedence is applied afterwards, exactly as a sequential chain would: the first lookup in the
connector's order that linked records wins (NHS number over cross-reference over demographics), and a
cross-reference waits for exactly the records that precedence settles on. A connector may ask for
``lookup_mode: sequential`` (fewest calls) only where that timing tells nothing: see
:class:`gateway.agencies.connectors.ConnectorSpec`.

Each agency's outcome is an :class:`AgencyAnswer`; a failure is recorded on it, never raised, so one
agency down never fails the request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.agencies.client import AgencyClient
from gateway.agencies.connectors import Connector, Lookup
from gateway.agencies.resilience import CircuitOpen
from gateway.agencies.templates import MissingValue
from gateway.errors import AgencyBadResponse, AgencyError, AgencyUnavailable
from gateway.metrics import Metrics
from gateway.pipeline.link import Matcher
from gateway.pipeline.records import AgencyAnswer, CallContext, Demographics, LinkedRecord, extract_demographics
from gateway.types import MATCH_ORDER, Label

STATUS_BY_CODE = {"AGENCY_TIMEOUT": "timeout", "AGENCY_BAD_RESPONSE": "bad-response"}


def status_of(exc: AgencyError) -> str:
    """An agency's status in ``sources`` for the error its part ended with."""
    return "circuit-open" if isinstance(exc, CircuitOpen) else STATUS_BY_CODE.get(exc.code, "unavailable")


class _Found:
    """What one lookup returned: records linked to the child, and records that only might be theirs."""

    __slots__ = ("candidates", "linked")

    def __init__(self) -> None:
        self.linked: list[LinkedRecord] = []
        self.candidates: list[Any] = []


class _Progress:
    """Where one agency's lookups have got to, for the lookups waiting on it.

    ``linked`` resolves as soon as which records the agency links is settled: when a lookup has linked
    some and every lookup before it (in precedence) is done and linked none — usually well before the
    agency's last lookup answers. A cross-reference waits on this, not on the whole answer. A lookup that
    fails settles it empty at once: the agency's whole part fails, as a sequential chain would stop there,
    so nothing it found may lead anywhere.
    """

    __slots__ = ("linked", "outcomes")

    def __init__(self, lookups: int, loop: asyncio.AbstractEventLoop) -> None:
        self.outcomes: list[_Found | object | None] = [_PENDING] * lookups
        self.linked: asyncio.Future[list[LinkedRecord]] = loop.create_future()

    def done(self, index: int, outcome: _Found | None) -> None:
        self.outcomes[index] = outcome
        for result in self.outcomes:
            if result is _PENDING:
                return
            if isinstance(result, _Found) and result.linked:
                self.settle(sorted(result.linked, key=lambda r: MATCH_ORDER[r.grade]))
                return

    def fail(self, index: int) -> None:
        self.outcomes[index] = _FAILED
        self.settle([])

    def settle(self, records: list[LinkedRecord]) -> None:
        if not self.linked.done():
            self.linked.set_result(records)

    def found_before(self, index: int) -> bool:
        """Has a lookup before ``index`` linked records, with every one before that done and empty?"""
        for result in self.outcomes[:index]:
            if result is _PENDING or result is _FAILED:
                return False
            if isinstance(result, _Found) and result.linked:
                return True
        return False


@dataclass(frozen=True, slots=True)
class _Request:
    """One fan-out: the child, what every call forwards, the deadline, and each agency's answer and progress
    as they come in."""

    nhs_number: str
    headers: dict[str, str]
    deadline: float  # a loop.time() value
    futures: Mapping[str, asyncio.Future[AgencyAnswer]]
    progress: Mapping[str, _Progress]


_PENDING = object()
_FAILED = object()
# Agencies whose holding a record every requester who may ask about a child may know: an unneeded fallback
# of theirs may be left out (see FanOut._agency). The same condition as ConnectorSpec's for lookup_mode:
# sequential.
SKIPPABLE = frozenset({Label.IDENTITY})


class FanOut:
    """Calls agencies for one child. Built once at start-up; :meth:`run` is per request."""

    def __init__(
        self,
        connectors: Mapping[str, Connector],
        clients: Mapping[str, AgencyClient],
        matcher: Matcher,
        metrics: Metrics,
        *,
        spine: str,
        sequential: frozenset[str] | None = None,
    ) -> None:
        self.connectors = connectors
        self.clients = clients
        self.matcher = matcher
        self.spine = spine
        self._errors = metrics.agency_errors
        # Agencies whose lookups run one after another (their connectors' lookup_mode; ``sequential`` replaces
        # that, so the two orders can be compared, as the tests and benchmarks do).
        self.sequential = (
            sequential
            if sequential is not None
            else frozenset(a for a, c in connectors.items() if c.spec.lookup_mode == "sequential")
        )

    async def run(
        self, agencies: frozenset[str], nhs_number: str, call: CallContext, deadline: float
    ) -> dict[str, AgencyAnswer]:
        """Answers for every agency in ``agencies``; ``deadline`` is a ``loop.time()`` value."""
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[AgencyAnswer]] = {a: loop.create_future() for a in agencies}
        progress = {a: _Progress(len(self.connectors[a].lookups), loop) for a in agencies}
        request = _Request(nhs_number, call.headers(), deadline, futures, progress)

        async def one(agency: str) -> None:
            answer = await self._agency(agency, request)
            progress[agency].settle(answer.records)
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
        request: _Request,
    ) -> AgencyAnswer:
        connector = self.connectors[agency]
        answer = AgencyAnswer(agency)
        started = time.perf_counter()
        mine = request.progress[agency]
        # A fallback whose input arrives after a lookup before it has already found the child need not be
        # made, where that cannot be timed: only for an agency whose holding a record anyone who may ask about
        # the child may know.
        # (Never for an agency that supplies facts: a fallback left out is candidates not seen, and a restrictive
        # fact counts from candidates.)
        skippable = connector.spec.presence_label in SKIPPABLE and not connector.facts
        lookups = [self._lookup(connector, i, lookup, request, skippable) for i, lookup in enumerate(connector.lookups)]
        if agency in self.sequential:
            outcomes = await self._in_order(lookups)
        else:
            outcomes = await asyncio.gather(*lookups, return_exceptions=True)
        try:
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(outcome, AgencyError):
                    raise outcome
            errors = [o for o in outcomes if isinstance(o, AgencyError)]
            if errors:  # a lookup that failed may have been the one holding the record: the part is unknown
                raise errors[0]
            found = [o for o in outcomes if isinstance(o, _Found)]
            if connector.lookups and not found:
                raise AgencyUnavailable(agency, f"{agency} could not be searched: no demographics to search by")
            for lookup in found:  # precedence: the connector's order, as a sequential chain would take them
                answer.candidates.extend(lookup.candidates)
                if lookup.linked and not answer.records:
                    answer.records = sorted(lookup.linked, key=lambda r: MATCH_ORDER[r.grade])
        except AgencyError as exc:
            answer.error = exc
            answer.status = status_of(exc)
            answer.records, answer.candidates = [], []
            self._errors.labels(agency, answer.status).inc()
        mine.settle(answer.records)
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return answer

    @staticmethod
    async def _in_order(lookups: list[Coroutine[Any, Any, _Found | None]]) -> list[Any]:
        """Each lookup only when the ones before found nothing (and none failed)."""
        outcomes: list[Any] = []
        for i, lookup in enumerate(lookups):
            try:
                outcome: Any = await lookup
            except AgencyError as exc:
                outcome = exc
            outcomes.append(outcome)
            if isinstance(outcome, AgencyError) or (isinstance(outcome, _Found) and outcome.linked):
                for skipped in lookups[i + 1 :]:
                    skipped.close()  # never started: nothing to wait for
                break
        return outcomes

    async def _lookup(
        self,
        connector: Connector,
        index: int,
        lookup: Lookup,
        request: _Request,
        skippable: bool,
    ) -> _Found | None:
        """One lookup: ``None`` when it cannot run for this child (its input does not exist)."""
        mine = request.progress[connector.agency]
        try:
            found = await self._lookup_once(connector, index, lookup, request, skippable)
        except AgencyError:
            mine.fail(index)
            raise
        mine.done(index, found)
        return found

    async def _lookup_once(
        self,
        connector: Connector,
        index: int,
        lookup: Lookup,
        request: _Request,
        skippable: bool,
    ) -> _Found | None:
        values: dict[str, Any] = {"nhs_number": request.nhs_number}
        by = lookup.spec.by
        spine: Demographics | None = None
        if by == "demographics":
            spine = await self._spine(request.futures)
            if spine is None:
                return None
            values.update(given=spine.given, family=spine.family, dob=spine.dob, postcode=spine.postcode)
        elif by == "cross_reference":
            keys = await self._cross_references(lookup, request.progress)
            if not keys:
                return _Found()  # nothing refers to a record here: a lookup that found nothing
            values["key"] = keys[0]
        if skippable and request.progress[connector.agency].found_before(index):
            return _Found()  # a lookup before this one already found the child: it would not be taken
        try:
            raw = await self._call(connector, lookup, values, request.headers, request.deadline)
        except MissingValue:
            return None
        return self._link(connector, lookup, raw, request.nhs_number, spine)

    def _search_lookup(self, agency: str) -> Lookup | None:
        """How an agency is searched by name and date of birth: its ``search``, else its demographic lookup."""
        connector = self.connectors[agency]
        if connector.search is not None:
            return connector.search
        return next((lk for lk in connector.lookups if lk.spec.by == "demographics"), None)

    def can_search(self, agency: str) -> bool:
        return self._search_lookup(agency) is not None

    async def search(self, agency: str, values: Mapping[str, Any], call: CallContext, deadline: float) -> list[Any]:
        """Search an agency by name and date of birth; its raw records, unfiltered (the caller links them).
        A failure is raised as the agency's :class:`~gateway.errors.AgencyError`."""
        connector = self.connectors[agency]
        lookup = self._search_lookup(agency)
        if lookup is None:
            return []
        try:
            raw = await self._call(connector, lookup, values, call.headers(), deadline)
        except MissingValue:
            return []
        except AgencyError as exc:
            self._errors.labels(agency, status_of(exc)).inc()
            raise
        if raw is None:
            return []
        found = lookup.records(raw)
        if not isinstance(found, list):
            raise AgencyBadResponse(agency, f"{agency} sent search results in an unexpected shape")
        return [r for r in found if isinstance(r, dict)]

    async def _spine(self, futures: Mapping[str, asyncio.Future[AgencyAnswer]]) -> Demographics | None:
        spine = futures.get(self.spine)
        if spine is None:
            return None
        answer = await asyncio.shield(spine)
        if not answer.records:
            return None
        if answer.demographics is None:  # several agencies search by it: extract (and parse the DOB) once
            try:
                answer.demographics = extract_demographics(self.connectors[self.spine], answer.records[0].raw)
            except (TypeError, ValueError, KeyError, AttributeError):
                return None  # unreadable: nothing to search by (linking fails the spine's part)
        return answer.demographics

    async def _cross_references(self, lookup: Lookup, progress: Mapping[str, _Progress]) -> list[str]:
        """The keys the source agency's records linked with certainty give, as soon as which records those are is
        settled. A record linked only probably might be another child's: its reference would find that child's
        record and call it certain."""
        source = lookup.spec.from_agency
        if source is None or source not in progress:
            return []
        records = await asyncio.shield(progress[source].linked)
        extractor = self.connectors[source].cross_references
        keys: list[str] = []
        for record in records:
            if record.grade != "certain" or extractor is None:
                continue
            try:
                refs = extractor(record.raw)
            except (TypeError, ValueError, KeyError, AttributeError):
                continue  # an unreadable record: linking fails the source's part; nothing to follow here
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
        spec = lookup.spec
        client = self.clients[connector.agency]
        return await client.get(spec.path, spec.params, values, headers, deadline, not_found=spec.not_found)

    def _link(
        self, connector: Connector, lookup: Lookup, raw: Any, nhs_number: str, spine: Demographics | None
    ) -> _Found:
        found = _Found()
        if raw is None:
            return found
        agency = connector.agency
        try:
            records = lookup.records(raw)
            if records is None:
                return found
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise TypeError("records are not a list of objects")
            by = lookup.spec.by
            for record in records:
                if by == "demographics":
                    if spine is None:
                        continue
                    theirs = extract_demographics(connector, record)
                    graded = self.matcher.assess(spine, theirs)
                    if graded.grade is not None:
                        found.linked.append(
                            LinkedRecord(record, graded.grade, by, theirs, graded.score, graded.pattern)
                        )
                    else:  # not accepted, but it might be the child's: restrictive facts still count
                        found.candidates.append(record)
                    continue
                if connector.nhs_number is not None and by == "nhs_number":
                    held = connector.nhs_number(record)
                    if held is not None and str(held) != nhs_number:
                        continue  # never attach a record that names another child
                found.linked.append(LinkedRecord(record, "certain", by))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise AgencyBadResponse(agency, f"{agency} sent records in an unexpected shape") from exc
        return found
