"""``searchChildren``: candidates by name and date of birth, identity only, linked live across agencies.

:meth:`SearchPipeline.run` reads as the pipeline: authenticate → parse & limit → fan out (in one round, the
spine's own search and the search of every agency that supplies facts) → link (each agency's records to the
spine's candidates: by a valid NHS number, else by Fellegi-Sunter score) → policy → audit → respond.

Results are the spine's records: the child's identity is the spine's to give. Another agency's records
only tell policy what it must know about each candidate (a shield, a refuge, consents), and the score is
the match probability of what was typed against the candidate's spine record, using only what the searcher
may see of it: a candidate's postcode counts only where policy would show the searcher that whole
postcode, and that needs the candidate's complete facts, so a search that gives a postcode takes a second
round (each candidate's facts by NHS number). Neither which candidates are listed, nor their order, nor
their scores depends on anything the searcher may not see.

Search terms reach the audit trail only as a keyed hash (HMAC), so an investigator can ask "who searched for
this?" without the log holding it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.agencies.connectors import Connector
from gateway.config import Settings
from gateway.errors import AgencyError, AgencyUnavailable, BadRequest, RateLimited
from gateway.graphql.labels import FieldTable
from gateway.graphql.schema import ChildMatch
from gateway.graphql.selection import Sel
from gateway.identifiers import nhs_number_is_valid
from gateway.pipeline.audit import AuditSink, audit_event
from gateway.pipeline.authenticate import require_subject
from gateway.pipeline.fanout import FanOut
from gateway.pipeline.link import Linker, Profile
from gateway.pipeline.policy.classes import DERIVED, GATEWAY, Node, Walk, collect
from gateway.pipeline.policy.complete import complete
from gateway.pipeline.policy.decide import ChildView, Policy
from gateway.pipeline.quota import Quota
from gateway.pipeline.records import AgencyAnswer, CallContext, Demographics, LinkedRecord, extract_demographics
from gateway.types import (
    DENY_UNAVAILABLE,
    MATCH_ORDER,
    Completed,
    Decision,
    FieldClass,
    Label,
    Purpose,
    Subject,
    Withheld,
)

MAX_CANDIDATES = 10


def search_digest(key: str, name: str, dob: dt.date | None, postcode: str | None = None) -> str:
    """The keyed hash of normalised search terms that the audit trail records instead of the terms.

    Without ``postcode`` it is the digest of name and date of birth alone, which every search record
    carries, so "who searched for this name and date of birth?" has an answer whatever else was typed.
    """
    parts = [" ".join(name.casefold().split()), dob.isoformat() if dob else ""]
    if postcode is not None:
        parts.append(postcode.replace(" ", "").upper())
    return hmac.new(key.encode(), "|".join(parts).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SearchRequest:
    subject: Subject | None
    auth_error: str | None
    name: str
    purpose: str
    date_of_birth: dt.date | None
    postcode: str | None
    selection: tuple[Sel, ...]
    path: tuple[str | int, ...]
    request_id: str


@dataclass(slots=True)
class SearchAnswer:
    matches: list[Completed]
    withheld: list[Withheld] = field(default_factory=list)


@dataclass(slots=True)
class _Candidate:
    """One of the spine's records, with what the other agencies' searches linked to it."""

    nhs: str
    demographics: Demographics
    raw: Any
    records: dict[str, list[LinkedRecord]] = field(default_factory=dict)
    unlinked: dict[str, list[Any]] = field(default_factory=dict)
    profile: Profile | None = None


@dataclass(frozen=True, slots=True)
class _Ask:
    subject: Subject
    query: Demographics
    purpose: str
    digests: dict[str, str]
    selection: tuple[Sel, ...]
    path: tuple[str | int, ...]
    request_id: str


class SearchPipeline:
    """The stages of one search, in order. Built once at start-up."""

    def __init__(
        self,
        settings: Settings,
        connectors: Mapping[str, Connector],
        fanout: FanOut,
        linker: Linker,
        policy: Policy,
        table: FieldTable,
        audit: AuditSink,
        quota: Quota,
        *,
        search_key: str,
    ) -> None:
        self.settings = settings
        self.connectors = connectors
        self.fanout = fanout
        self.linker = linker
        self.policy = policy
        self.table = table
        self.audit = audit
        self.quota = quota
        self.search_key = search_key
        self.spine = settings.spine
        self.gate = FieldClass(Label.IDENTITY.value, settings.spine, "ChildMatch.id")
        self.postcode = FieldClass(Label.CONTACT.value, settings.spine, "Address.postcode")
        self.facts_agencies = frozenset({settings.spine, *(a for a, c in connectors.items() if c.facts)})
        # asked in one round: the spine (whose records are the results) and every agency that supplies facts
        self.searched = frozenset(a for a in self.facts_agencies if fanout.can_search(a))

    async def run(self, request: SearchRequest) -> SearchAnswer:
        subject = require_subject(request.subject, request.auth_error)  # authenticate
        ask = await self.parse(request, subject)  # parse & limit (and the practitioner's quota)
        refused = await self.preflight(ask)
        if refused is not None:  # may not search for this purpose: no agency is called
            return refused
        call = CallContext(subject.practitioner_id, ask.purpose, ask.request_id)
        deadline = asyncio.get_running_loop().time() + self.settings.request_deadline_ms / 1000
        found = await self.fan_out(ask, call, deadline)
        candidates = self.link(found)
        if ask.query.postcode:  # its use needs each candidate's complete facts: one more round, by NHS number
            candidates = await self.complete_facts(candidates, call, deadline)
        scored = [await self.decide(ask, candidate) for candidate in candidates]  # policy
        ranked = sorted((s for s in scored if s is not None), key=lambda r: (-r[0], r[2].nhs_number))
        answer = self.complete(ask, ranked)
        await self.audit.write(  # audit
            audit_event(
                "child.search",
                ask.request_id,
                subject,
                ask.purpose,
                **ask.digests,
                resultIds=[p.nhs_number for _, _, p, _ in ranked],
                resultGrades=[grade for _, grade, _, _ in ranked],
                policyRevision=self.policy.engine.revision,
            )
        )
        return answer  # respond

    async def preflight(self, ask: _Ask) -> SearchAnswer | None:
        """May this requester search for this purpose at all? Decided before any agency is asked."""
        outcome = await self.policy.decide(ask.subject, ask.purpose, False, ChildView(), {self.gate})
        gate = outcome.decisions.get(self.gate, DENY_UNAVAILABLE)
        if gate.action != "deny":
            return None
        await self.audit.write(
            audit_event(
                "child.search.refused", ask.request_id, ask.subject, ask.purpose, **ask.digests, reason=gate.reason
            )
        )
        return SearchAnswer([], [Withheld(ask.path, gate.reason)])

    async def parse(self, request: SearchRequest, subject: Subject) -> _Ask:
        parts = request.name.split()
        if not parts or len(request.name) > 100:
            raise BadRequest("name must be given (at most 100 characters)")
        if request.date_of_birth is None:
            raise BadRequest("dateOfBirth is required: the index is searched, never browsed")
        purpose = Purpose(request.purpose).value
        dob, postcode = request.date_of_birth, request.postcode
        digests = {
            "searchDigest": search_digest(self.search_key, request.name, dob),
            **(
                {"searchDigestWithPostcode": search_digest(self.search_key, request.name, dob, postcode)}
                if postcode
                else {}
            ),
        }
        try:
            await self.quota.check(subject.practitioner_id)
        except RateLimited:
            await self.audit.write(
                audit_event("child.search.rate-limited", request.request_id, subject, purpose, **digests)
            )
            raise
        query = Demographics(" ".join(parts[:-1]) or None, parts[-1], dob, postcode)
        return _Ask(subject, query, purpose, digests, request.selection, request.path, request.request_id)

    async def fan_out(self, ask: _Ask, call: CallContext, deadline: float) -> dict[str, list[Any]]:
        """Every searched agency's records for the typed surname and date of birth, asked all at once.

        An agency that fails leaves its part empty; its facts are then incomplete for every candidate, and
        policy shows no more than identity (fail closed).
        """
        values = {"family": ask.query.family, "given": ask.query.given, "dob": ask.query.dob}
        agencies = sorted(self.searched)
        outcomes = await asyncio.gather(
            *(self.fanout.search(agency, values, call, deadline) for agency in agencies), return_exceptions=True
        )
        found: dict[str, list[Any]] = {}
        for agency, outcome in zip(agencies, outcomes, strict=True):
            if isinstance(outcome, AgencyError):
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            found[agency] = outcome
        if self.spine not in found:  # nobody to list: the spine's own search failed
            raise AgencyUnavailable(self.spine, f"{self.spine} could not be searched")
        return found

    def link(self, found: Mapping[str, list[Any]]) -> list[_Candidate]:
        """The spine's records (up to :data:`MAX_CANDIDATES`), each with the other agencies' records linked
        to it: by the same valid NHS number, else by score against its demographics. A record that names no
        NHS number and links to no candidate might still be any of theirs: its restrictive facts count for all."""
        spine = self.connectors[self.spine]
        candidates: list[_Candidate] = []
        for record in found[self.spine]:
            demographics = extract_demographics(spine, record)
            nhs = demographics.nhs_number
            if nhs and nhs_number_is_valid(nhs) and all(c.nhs != nhs for c in candidates):
                candidates.append(_Candidate(nhs, demographics, record))
            if len(candidates) == MAX_CANDIDATES:
                break
        for agency in sorted(found):
            if agency == self.spine:
                continue
            connector = self.connectors[agency]
            for record in found[agency]:
                theirs = extract_demographics(connector, record)
                linked = False
                for candidate in candidates:
                    if theirs.nhs_number and nhs_number_is_valid(theirs.nhs_number):
                        if theirs.nhs_number == candidate.nhs:
                            candidate.records.setdefault(agency, []).append(
                                LinkedRecord(record, "certain", "nhs_number")
                            )
                            linked = True
                        continue
                    graded = self.fanout.matcher.assess(candidate.demographics, theirs)
                    if graded.grade is not None:
                        candidate.records.setdefault(agency, []).append(
                            LinkedRecord(record, graded.grade, "demographics", theirs, graded.score, graded.pattern)
                        )
                        linked = True
                if not linked and not (theirs.nhs_number and nhs_number_is_valid(theirs.nhs_number)):
                    for candidate in candidates:
                        candidate.unlinked.setdefault(agency, []).append(record)
        for candidate in candidates:
            answers = {
                self.spine: AgencyAnswer(self.spine, records=[LinkedRecord(candidate.raw, "certain", "nhs_number")])
            }
            for agency in self.facts_agencies - {self.spine}:
                if agency in found:
                    records = sorted(candidate.records.get(agency, []), key=lambda r: MATCH_ORDER[r.grade])
                    answers[agency] = AgencyAnswer(
                        agency, records=records, candidates=candidate.unlinked.get(agency, [])
                    )
            candidate.profile = self.linker.link(candidate.nhs, answers, count=False)
            # A search sees only the records filed under the typed surname and date of birth: there may be
            # others, so the facts are never complete from a search alone.
            candidate.profile.facts.complete = False
        return candidates

    async def complete_facts(
        self, candidates: list[_Candidate], call: CallContext, deadline: float
    ) -> list[_Candidate]:
        """Each candidate's facts as a child look-up would have them (by NHS number, and every lookup)."""

        async def one(candidate: _Candidate) -> _Candidate:
            answers = await self.fanout.run(self.facts_agencies, candidate.nhs, call, deadline)
            candidate.profile = self.linker.link(candidate.nhs, answers)
            return candidate

        return list(await asyncio.gather(*(one(c) for c in candidates)))

    async def decide(
        self, ask: _Ask, candidate: _Candidate
    ) -> tuple[float, str, Profile, Mapping[FieldClass, Decision]] | None:
        """One candidate's decisions, score and grade; ``None`` if it is not a result.

        The score uses only what the searcher may see of the candidate: the postcode counts only where policy
        would show them the whole postcode (not for a shielded child, nor one in a refuge, nor for a role
        that sees only the district), so a guessed postcode confirms nothing it would not show.
        """
        profile = candidate.profile
        assert profile is not None
        walk = Walk(self.table, interned=self.policy.interned)
        collect(walk, ChildMatch, ask.selection, _nodes(profile, dict.fromkeys(DERIVED_FIELDS, DERIVED)))
        walk.classes |= {self.gate, self.postcode}
        view = ChildView.of(profile.facts, ask.subject)
        outcome = await self.policy.decide(ask.subject, ask.purpose, False, view, walk.classes)
        if outcome.decisions.get(self.gate, DENY_UNAVAILABLE).action == "deny":  # not even the id may be shown
            return None
        may_see_postcode = outcome.decisions.get(self.postcode, DENY_UNAVAILABLE).action == "allow"
        query = ask.query
        typed = Demographics(query.given, query.family, query.dob, query.postcode if may_see_postcode else None)
        seen = candidate.demographics
        spine_record = Demographics(
            seen.given, seen.family, seen.dob, seen.postcode if may_see_postcode else None, seen.gender
        )
        graded = self.fanout.matcher.assess(spine_record, typed)
        if graded.grade is None:
            return None
        score = (
            graded.score
            if graded.score is not None
            else {"certain": 1.0, "probable": 0.95, "possible": 0.9}[graded.grade]
        )
        return round(score, 4), graded.grade, profile, outcome.decisions

    def complete(
        self, ask: _Ask, ranked: list[tuple[float, str, Profile, Mapping[FieldClass, Decision]]]
    ) -> SearchAnswer:
        answer = SearchAnswer([])
        for index, (score, grade_value, profile, decisions) in enumerate(ranked):
            walk = Walk(self.table, decisions=decisions, interned=self.policy.interned)
            nodes = _nodes(profile, {"matchGrade": grade_value, "score": score})
            answer.matches.append(complete(walk, ChildMatch, ask.selection, nodes, (*ask.path, index)))
            answer.withheld.extend(walk.withheld)
        return answer


DERIVED_FIELDS = ("matchGrade", "score")
"""The ChildMatch fields the gateway works out itself."""


def _nodes(profile: Profile, derived: Mapping[str, Any]) -> dict[str, Node]:
    nodes = {name: Node(value, GATEWAY) for name, value in derived.items()}
    nodes["id"] = Node(profile.nhs_number, profile.spine)
    for name, agency in profile.origin.items():
        nodes[name] = Node(profile.fields.get(name), agency)
    return nodes
