"""Resolve & link: turn every agency's answer into one child's profile, its conflicts and its facts.

Records are linked by NHS number where the agency holds one, by another agency's cross-reference,
or by name and date of birth, graded by a :class:`Matcher`. The matcher is the seam for full
probabilistic matching; :class:`RuleMatcher` is a deterministic, conservative stand-in.

Conflicts between agencies (date of birth, address, deceased) are reported, never resolved.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.agencies.connectors import CHILD_SECTIONS, Connector
from gateway.errors import AgencyBadResponse, AgencyError
from gateway.pipeline.records import AgencyAnswer, Demographics, extract_demographics
from gateway.types import MATCH_ORDER, Label, MatchGrade


class Matcher(abc.ABC):
    """Grades a candidate record against the child's spine demographics; ``None`` rejects it."""

    @abc.abstractmethod
    def grade(self, child: Demographics, candidate: Demographics) -> MatchGrade | None: ...


def _norm(value: str | None) -> str:
    return "".join(ch for ch in (value or "").casefold() if ch.isalnum())


def _near(a: str, b: str) -> bool:
    """Same name give or take a short form or one slip: prefix of 3+, or edit distance 1-2."""
    if not a or not b:
        return False
    if (a.startswith(b) or b.startswith(a)) and min(len(a), len(b)) >= 3:
        return True
    if abs(len(a) - len(b)) > 2:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] <= 2


class RuleMatcher(Matcher):
    """Certain only when surname, given name, date of birth and postcode all agree.

    - probable: one of given name (a short form or slip) or postcode (a stale address) differs;
    - possible: day and month swapped, or both of the above differ;
    - rejected: different surname, a different date of birth, or an unrelated given name.
    """

    def grade(self, child: Demographics, candidate: Demographics) -> MatchGrade | None:
        if not child.family or _norm(child.family) != _norm(candidate.family):
            return None
        if child.dob is None or candidate.dob is None:
            return None
        swapped = candidate.dob != child.dob
        if swapped and (candidate.dob.year, candidate.dob.day, candidate.dob.month) != (
            child.dob.year,
            child.dob.month,
            child.dob.day,
        ):
            return None
        given_a, given_b = _norm(child.given), _norm(candidate.given)
        if given_a == given_b:
            given_penalty = 0
        elif _near(given_a, given_b):
            given_penalty = 1
        else:
            return None
        postcode_penalty = 0 if _norm(child.postcode) == _norm(candidate.postcode) or not candidate.postcode else 1
        penalty = given_penalty + postcode_penalty + (2 if swapped else 0)
        return "certain" if penalty == 0 else "probable" if penalty == 1 else "possible"


@dataclass(slots=True)
class ChildFacts:
    """What policy needs to know about the child, fetched live for this request."""

    shielded: bool | None = False  # None: the agency that knows could not be asked
    consents: list[dict[str, Any]] = field(default_factory=list)
    involved: set[str] = field(default_factory=set)
    held_by: set[str] = field(default_factory=set)
    match_grade: str = "certain"
    complete: bool = True


@dataclass(slots=True)
class Profile:
    """One child as the agencies describe them, before policy: plain data shaped like the schema."""

    nhs_number: str
    spine: str  # the agency the child was looked up at by NHS number (the demographic spine)
    fields: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    errors: dict[str, AgencyError] = field(default_factory=dict)
    involvements: list[tuple[str, Label, dict[str, Any]]] = field(default_factory=list)
    conflicts: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    sources: list[tuple[str, str, float | None]] = field(default_factory=list)
    facts: ChildFacts = field(default_factory=ChildFacts)
    warnings: list[str] = field(default_factory=list)


def _section(connector: Connector, name: str, record: Any) -> dict[str, Any]:
    return {f: fn(record) for f, fn in connector.sections[name]}


class Linker:
    """Builds a :class:`Profile` from the fan-out's answers. Stateless; built once at start-up."""

    def __init__(self, connectors: Mapping[str, Connector], *, spine: str) -> None:
        self.connectors = connectors
        self.spine = spine
        # How sensitive the fact that an agency holds a record is: its connector's presence label.
        self.presence: dict[str, Label] = {a: c.spec.presence_label for a, c in connectors.items()}
        self.providers: dict[str, list[str]] = {}
        for agency, connector in connectors.items():
            for name in connector.sections:
                self.providers.setdefault(name, []).append(agency)

    def link(self, nhs_number: str, answers: Mapping[str, AgencyAnswer]) -> Profile:
        profile = Profile(nhs_number, self.spine)
        facts = profile.facts
        bad: dict[str, AgencyError] = {}
        grades: list[str] = []
        for agency in sorted(self.connectors):
            answer = answers.get(agency)
            if answer is None:
                profile.sources.append((agency, "not-called", None))
                continue
            if answer.records:
                try:
                    self._take(profile, agency, answer)
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    err = AgencyBadResponse(agency, f"{agency} sent a record that could not be read")
                    err.__cause__ = exc
                    answer.error, answer.status, answer.records = err, "bad-response", []
                else:
                    facts.held_by.add(agency)
                    grades.append(answer.records[0].grade)
            if answer.error is not None:
                bad[agency] = answer.error
            profile.sources.append((agency, answer.status, answer.latency_ms))
        # A part nobody filled is still the part its connector would fill: policy decides it as that
        # agency's field, so the answer does not depend on whether a record exists.
        for child_field, section in CHILD_SECTIONS.items():
            if child_field not in profile.origin and self.providers.get(section):
                profile.origin[child_field] = self.providers[section][0]
        # An agency that failed leaves its part null with its error, at every field it would have filled.
        for child_field, section in CHILD_SECTIONS.items():
            for agency in self.providers.get(section, ()):
                if agency in bad and child_field not in profile.fields:
                    profile.errors[child_field] = bad[agency]
        if bad and any(c.involvements for a, c in self.connectors.items() if a in bad):
            first = next(a for a in sorted(bad) if self.connectors[a].involvements)
            profile.errors["involvements"] = bad[first]
        for agency, connector in self.connectors.items():
            if connector.facts and (agency not in answers or agency in bad):
                facts.complete = False
                facts.shielded = None
        if grades:
            facts.match_grade = max(grades, key=lambda g: MATCH_ORDER[g])
        if facts.match_grade != "certain":
            profile.warnings.append(
                f"Some records were linked by name and date of birth only (match: {facts.match_grade})."
            )
        self._conflicts(profile, answers)
        return profile

    def _take(self, profile: Profile, agency: str, answer: AgencyAnswer) -> None:
        connector = self.connectors[agency]
        first = answer.records[0].raw
        for name in connector.sections:
            values = _section(connector, name, first)
            if name == "identity":
                for key, child_field in (
                    ("dateOfBirth", "dateOfBirth"),
                    ("gender", "gender"),
                    ("deceased", "deceased"),
                ):
                    if key in values:
                        profile.fields[child_field] = values[key]
                        profile.origin[child_field] = agency
                if "given" in values or "family" in values:
                    profile.fields["name"] = {"given": values.get("given"), "family": values.get("family")}
                    profile.origin["name"] = agency
                continue
            child_field = next(f for f, s in CHILD_SECTIONS.items() if s == name)
            if child_field not in profile.fields:
                profile.fields[child_field] = values
                profile.origin[child_field] = agency
        for record in answer.records:
            for inv in connector.involvements:
                raw = record.raw
                if inv.when is not None and not inv.when(raw):
                    continue
                items = inv.each(raw) if inv.each is not None else [raw]
                if items is None:
                    continue
                for item in items if isinstance(items, list) else [items]:
                    entry = {k: fn(item) for k, fn in inv.fields}
                    entry["agency"] = agency
                    profile.involvements.append((agency, inv.label, entry))
                    practitioner = entry.get("practitioner")
                    if isinstance(practitioner, dict) and practitioner.get("id"):
                        profile.facts.involved.add(str(practitioner["id"]))
        facts = profile.facts
        for name, fn in connector.facts.items():
            for record in answer.records:
                value = fn(record.raw)
                if name == "shielded" and value:
                    facts.shielded = True
                elif name == "consents" and isinstance(value, list):
                    facts.consents.extend(v for v in value if isinstance(v, dict) and v.get("service"))

    def _conflicts(self, profile: Profile, answers: Mapping[str, AgencyAnswer]) -> None:
        spine = answers.get(self.spine)
        if spine is None or not spine.records:
            return
        base = spine.demographics or extract_demographics(self.connectors[self.spine], spine.records[0].raw)
        dob: list[tuple[str, str]] = []
        postcode: list[tuple[str, str]] = []
        holders: list[str] = []
        for agency in sorted(answers):
            answer = answers[agency]
            if agency == self.spine or not answer.records:
                continue
            holders.append(agency)
            first = answer.records[0]
            other = first.demographics or extract_demographics(self.connectors[agency], first.raw)
            if other.dob and base.dob and other.dob != base.dob:
                dob.append((agency, other.dob.isoformat()))
            if other.postcode and base.postcode and _norm(other.postcode) != _norm(base.postcode):
                postcode.append((agency, other.postcode))
        if dob and base.dob:
            profile.conflicts.append(("dateOfBirth", [(self.spine, base.dob.isoformat()), *dob]))
        if postcode and base.postcode:
            profile.conflicts.append(("address.postcode", [(self.spine, base.postcode), *postcode]))
        if profile.fields.get("deceased") and holders:
            profile.conflicts.append(("deceased", [(self.spine, "true"), *((a, "false") for a in holders)]))
