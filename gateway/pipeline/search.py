"""``searchChildren``: candidates by name and date of birth from the demographic spine, identity only.

:meth:`SearchPipeline.run` reads as the pipeline: authenticate → parse & limit → fan out (the spine's
search, then each candidate's facts) → link and grade → policy → audit → respond.

A child's hidden fields never influence results: the postcode ranks a candidate only where policy would
show the searcher that candidate's whole postcode. Search terms reach the audit trail only
as a keyed hash (HMAC), so an investigator can ask "who searched for this?" without the log holding it.
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
from gateway.errors import BadRequest, RateLimited
from gateway.graphql.labels import FieldTable
from gateway.graphql.schema import ChildMatch
from gateway.graphql.selection import Sel
from gateway.pipeline.audit import AuditSink, audit_event
from gateway.pipeline.authenticate import require_subject
from gateway.pipeline.fanout import FanOut
from gateway.pipeline.link import Linker, Profile
from gateway.pipeline.policy.classes import DERIVED, GATEWAY, Node, Walk, collect
from gateway.pipeline.policy.complete import complete
from gateway.pipeline.policy.decide import ChildView, Policy
from gateway.pipeline.quota import Quota
from gateway.pipeline.records import CallContext, Demographics, extract_demographics
from gateway.types import DENY_UNAVAILABLE, Completed, Decision, FieldClass, Label, Purpose, Subject, Withheld

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

    async def run(self, request: SearchRequest) -> SearchAnswer:
        subject = require_subject(request.subject, request.auth_error)  # authenticate
        ask = await self.parse(request, subject)  # parse & limit (and the practitioner's quota)
        refused = await self.preflight(ask)
        if refused is not None:  # may not search for this purpose: no agency is called
            return refused
        call = CallContext(subject.practitioner_id, ask.purpose, ask.request_id)
        deadline = asyncio.get_running_loop().time() + self.settings.request_deadline_ms / 1000
        candidates = await self.fan_out(ask, call, deadline)
        scored = await asyncio.gather(*(self.link_and_decide(ask, call, deadline, n, d) for n, d in candidates))
        ranked = sorted((s for s in scored if s is not None), key=lambda r: (-r[0], r[2].nhs_number))
        answer = self.complete(ask, ranked)  # policy applied to each candidate's identity
        await self.audit.write(  # audit
            audit_event(
                "child.search",
                ask.request_id,
                subject,
                ask.purpose,
                **ask.digests,
                resultIds=[p.nhs_number for _, _, p, _ in ranked],
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

    async def fan_out(self, ask: _Ask, call: CallContext, deadline: float) -> list[tuple[str, Demographics]]:
        """The spine's own search: candidates (NHS number and demographics) by surname and date of birth."""
        values = {"family": ask.query.family, "dob": ask.query.dob}
        raw = await self.fanout.search(self.spine, values, call, deadline)
        spine = self.connectors[self.spine]
        out: list[tuple[str, Demographics]] = []
        for record in raw[: MAX_CANDIDATES * 3]:
            nhs = spine.nhs_number(record) if spine.nhs_number else None
            if nhs:
                out.append((str(nhs), extract_demographics(spine, record)))
        return out[:MAX_CANDIDATES]

    async def link_and_decide(
        self, ask: _Ask, call: CallContext, deadline: float, nhs: str, found: Demographics
    ) -> tuple[float, str, Profile, Mapping[FieldClass, Decision]] | None:
        """One candidate's facts, grade, score and decisions; ``None`` if it is not a result.

        The score uses only what the searcher may see of the candidate: the postcode counts only where
        policy would show them the whole postcode (not for a shielded child, nor one in a refuge, nor for a
        role that sees only the district), so a guessed postcode confirms nothing it would not show.
        """
        answers = await self.fanout.run(self.facts_agencies, nhs, call, deadline)
        profile = self.linker.link(nhs, answers)
        query = ask.query
        walk = Walk(self.table, interned=self.policy.interned)
        collect(walk, ChildMatch, ask.selection, _nodes(profile, dict.fromkeys(DERIVED_FIELDS, DERIVED)))
        walk.classes |= {self.gate, self.postcode}
        view = ChildView.of(profile.facts, ask.subject)
        outcome = await self.policy.decide(ask.subject, ask.purpose, False, view, walk.classes)
        gate = outcome.decisions.get(self.gate, DENY_UNAVAILABLE)
        if gate.action == "deny":  # not even the candidate's id may be shown: not a result
            return None
        score = 0.6
        if query.given:
            grade = self.fanout.matcher.grade(Demographics(query.given, query.family, query.dob, found.postcode), found)
            if grade is None:
                return None
            score += 0.3 if grade == "certain" else 0.15
        postcode = query.postcode
        may_see = outcome.decisions.get(self.postcode, DENY_UNAVAILABLE).action == "allow"
        if postcode and may_see and found.postcode:
            same = found.postcode.replace(" ", "").upper() == postcode.replace(" ", "").upper()
            score += 0.1 if same else -0.1
        score = round(score, 2)
        grade_value = "certain" if score >= 0.9 else "probable" if score >= 0.7 else "possible"
        return score, grade_value, profile, outcome.decisions

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
