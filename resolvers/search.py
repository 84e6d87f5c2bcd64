"""``searchChildren``: candidates by name and date of birth from the demographic spine, identity only.

A shielded child's hidden fields never influence results: the postcode is only used to rank a candidate
whose social-care facts were fetched and who is not shielded. Search terms reach the audit trail only
as a keyed hash (HMAC), so an investigator can ask "who searched for this?" without the log holding it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping

from strawberry.types import Info

from gateway.errors import BadRequest, RateLimited
from gateway.graphql.schema import ChildMatch, PurposeEnum
from gateway.pipeline.audit import audit_event
from gateway.pipeline.fanout import CallContext
from gateway.pipeline.link import Demographics, Profile, extract_demographics
from gateway.pipeline.plan import selection_of
from gateway.pipeline.policy.decide import Walk, apply, collect
from gateway.types import DENY_UNAVAILABLE, Completed, Context, Decision, FieldClass, Purpose, Withheld
from resolvers.common import subject_of

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


async def resolve_search_children(
    info: Info[Context, None],
    name: str,
    purpose: PurposeEnum,  # type: ignore[valid-type]
    date_of_birth: dt.date | None = None,
    postcode: str | None = None,
) -> list[ChildMatch]:
    ctx = info.context
    services, state = ctx.services, ctx.state
    subject = subject_of(info)
    parts = name.split()
    if not parts or len(name) > 100:
        raise BadRequest("name must be given (at most 100 characters)")
    if date_of_birth is None:
        raise BadRequest("dateOfBirth is required: the index is searched, never browsed")
    purpose_value = Purpose(purpose).value
    key = services.settings.search_hmac_key
    digests = {
        "searchDigest": search_digest(key, name, date_of_birth),
        **({"searchDigestWithPostcode": search_digest(key, name, date_of_birth, postcode)} if postcode else {}),
    }
    try:
        await services.search_limiter.check(subject.practitioner_id)
    except RateLimited:
        await services.audit.write(
            audit_event("child.search.rate-limited", state.request_id, subject, purpose_value, **digests)
        )
        raise
    query = Demographics(" ".join(parts[:-1]) or None, parts[-1], date_of_birth, postcode)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + services.settings.request_deadline_ms / 1000
    call = CallContext(subject.practitioner_id, purpose_value, state.request_id)
    raw = await services.fanout.search("health", {"family": query.family, "dob": date_of_birth}, call, deadline)
    health = services.connectors["health"]
    candidates: list[tuple[str, Demographics, dict[str, object]]] = []
    for record in raw[: MAX_CANDIDATES * 3]:
        nhs = health.nhs_number(record) if health.nhs_number else None
        if nhs:
            candidates.append((str(nhs), extract_demographics(health, record), record))
    results: list[tuple[str, Completed]] = []
    scored: list[tuple[float, str, Profile, Mapping[FieldClass, Decision]]] = []
    withheld: list[Withheld] = []
    sel = tuple(selection_of(info))  # once per document: every candidate is walked over the same selection

    async def one(nhs: str, found: Demographics) -> None:
        answers = await services.fanout.run(frozenset({"health", "social-care"}), nhs, call, deadline)
        profile = services.linker.link(nhs, answers)
        facts = profile.facts
        score = 0.6
        if query.given:
            grade = services.fanout.matcher.grade(
                Demographics(query.given, query.family, query.dob, found.postcode), found
            )
            if grade is None:
                return
            score += 0.3 if grade == "certain" else 0.15
        if postcode and facts.complete and facts.shielded is False and found.postcode:
            same = found.postcode.replace(" ", "").upper() == postcode.replace(" ", "").upper()
            score += 0.1 if same else -0.1
        score = round(score, 2)
        grade_value = "certain" if score >= 0.9 else "probable" if score >= 0.7 else "possible"
        walk = Walk(services.table, interned=services.policy.interned)
        collect(walk, ChildMatch, sel, profile, services.presence)
        outcome = await services.policy.decide(subject, purpose_value, False, facts, walk.classes)
        gate = outcome.decisions.get(FieldClass("identity", "health", "ChildMatch.id"), DENY_UNAVAILABLE)
        if gate.action == "deny":  # not even the candidate's id may be shown: not a result
            return
        scored.append((score, grade_value, profile, outcome.decisions))

    await asyncio.gather(*(one(n, d) for n, d, _ in candidates[:MAX_CANDIDATES]))
    scored.sort(key=lambda r: (-r[0], r[2].nhs_number))
    for index, (score, grade_value, profile, decisions) in enumerate(scored):
        walk = Walk(services.table, decisions=decisions, interned=services.policy.interned)
        profile.facts.match_grade = grade_value
        here = (*info.path.as_list(), index)
        match = apply(walk, ChildMatch, sel, profile, services.presence, here, extra={"score": score})
        results.append((profile.nhs_number, match))
        withheld.extend(walk.withheld)
    await services.audit.write(
        audit_event(
            "child.search",
            state.request_id,
            subject,
            purpose_value,
            **digests,
            resultIds=[nhs for nhs, _ in results],
            policyRevision=services.policy.engine.revision,
        )
    )
    state.withheld.extend(withheld)
    return [m for _, m in results]  # type: ignore[misc]  # Completed answers: the executor passes them through
