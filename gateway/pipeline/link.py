"""Resolve & link: turn every agency's answer into one child's profile, the facts policy needs, and what
each agency says about who the child is.

Records are linked by NHS number where the agency holds one, by another agency's cross-reference,
or by name and date of birth, graded by a :class:`Matcher`: the Fellegi-Sunter matcher of
:mod:`gateway.pipeline.linkage` by default, or :class:`RuleMatcher`, a deterministic, conservative grader
(``matcher = "rules"``).

Facts fail closed. A restrictive fact (a shield, a refuge) counts when any record might be the child's,
including one a search returned that the linker did not accept; a permissive fact (a consent, a
practitioner's involvement) counts only from a record linked with certainty. Involvement is the pair
(agency, practitioner): a practitioner is involved only as a member of the agency the record names.

Disagreements between agencies (date of birth, name, postcode, deceased) are kept as observations;
which of them a requester sees as ``conflicts`` is decided with the rest of the answer, since each
agency's value is only as visible as the requester's right to know that agency holds a record.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.agencies.connectors import CHILD_SECTIONS, SECTIONS, Connector
from gateway.errors import AgencyBadResponse, AgencyError
from gateway.metrics import Metrics
from gateway.pipeline.records import AgencyAnswer, Demographics, extract_demographics
from gateway.types import Label, MatchGrade


@dataclass(frozen=True, slots=True)
class Graded:
    """How sure a matcher is that a candidate record is the child's: a grade (``None``: not linked), and
    where the matcher scores, the match probability and the agreement pattern behind it."""

    grade: MatchGrade | None
    score: float | None = None
    pattern: Mapping[str, str] | None = None


class Matcher(abc.ABC):
    """Grades a candidate record against the child's spine demographics; ``None`` rejects it."""

    @abc.abstractmethod
    def grade(self, child: Demographics, candidate: Demographics) -> MatchGrade | None: ...

    def assess(self, child: Demographics, candidate: Demographics) -> Graded:
        """The grade with the score and pattern behind it (a matcher that only grades gives no score)."""
        return Graded(self.grade(child, candidate))


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
    """What policy needs to know about the child, fetched live for this request (the same for every requester)."""

    shielded: bool | None = False  # None: the agency that knows could not be asked
    refuge: bool | None = False
    consents: list[dict[str, Any]] = field(default_factory=list)  # from records linked with certainty
    involved: set[tuple[str, str]] = field(default_factory=set)  # (agency, practitioner id), certain records
    held_by: set[str] = field(default_factory=set)
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Observation:
    """One agency's value for a field other agencies may disagree about (``conflicts``)."""

    field: str  # as ``conflicts`` names it: dateOfBirth, name, address.postcode, deceased
    coordinate: str  # the schema field whose label (and mask) the value takes
    agency: str
    value: str


@dataclass(slots=True)
class Profile:
    """One child as the agencies describe them, before policy: plain data shaped like the schema."""

    nhs_number: str
    spine: str  # the agency the child was looked up at by NHS number (the demographic spine)
    fields: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    errors: dict[str, AgencyError] = field(default_factory=dict)
    involvements: list[tuple[str, Label, dict[str, Any]]] = field(default_factory=list)
    # every (agency, label) an involvement could come from, whether or not this child has one
    involvement_classes: tuple[tuple[str, Label], ...] = ()
    observations: list[Observation] = field(default_factory=list)
    sources: list[tuple[str, str, float | None]] = field(default_factory=list)
    grades: dict[str, MatchGrade] = field(default_factory=dict)  # each linked agency's best record
    facts: ChildFacts = field(default_factory=ChildFacts)


def _section(connector: Connector, name: str, record: Any) -> dict[str, Any] | None:
    """A section of a record, or ``None`` when every member is null: an object of nulls would say only
    that the agency holds a record, which is not the section's to tell."""
    values = {f: fn(record) for f, fn in connector.sections[name]}
    return values if any(v is not None and v != [] for v in values.values()) else None


# Conflicts compare these Child fields across agencies; each value takes the label and mask of the field.
OBSERVED = (
    ("dateOfBirth", "Child.dateOfBirth"),
    ("name", "Child.name"),
    ("address.postcode", "Address.postcode"),
    ("deceased", "Child.deceased"),
)


class Linker:
    """Builds a :class:`Profile` from the fan-out's answers. Stateless; built once at start-up."""

    def __init__(self, connectors: Mapping[str, Connector], *, spine: str, metrics: Metrics | None = None) -> None:
        self.connectors = connectors
        self.spine = spine
        self.metrics = metrics
        # How sensitive the fact that an agency holds a record is: its connector's presence label.
        self.presence: dict[str, Label] = {a: c.spec.presence_label for a, c in connectors.items()}
        self.providers: dict[str, list[str]] = {}
        for agency, connector in connectors.items():
            for name in connector.sections:
                self.providers.setdefault(name, []).append(agency)
        self.involvement_classes = tuple(
            sorted({(a, inv.label) for a, c in connectors.items() for inv in c.involvements}, key=lambda x: x[0])
        )
        self.fact_agencies = frozenset(a for a, c in connectors.items() if c.facts)

    def link(self, nhs_number: str, answers: Mapping[str, AgencyAnswer], *, count: bool = True) -> Profile:
        """The child's profile from every agency's answer; ``count`` adds it to the data-quality counters."""
        profile = Profile(nhs_number, self.spine, involvement_classes=self.involvement_classes)
        facts = profile.facts
        bad: dict[str, AgencyError] = {}
        for agency in sorted(self.connectors):
            answer = answers.get(agency)
            if answer is None:
                profile.sources.append((agency, "not-called", None))
                continue
            if answer.records or answer.candidates:
                try:
                    self._take(profile, agency, answer)
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    err = AgencyBadResponse(agency, f"{agency} sent a record that could not be read")
                    err.__cause__ = exc
                    answer.error, answer.status, answer.records, answer.candidates = err, "bad-response", [], []
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
        for agency in self.fact_agencies:
            if agency not in answers or agency in bad:
                facts.complete = False
                for name in self.connectors[agency].facts:
                    if name in ("shielded", "refuge"):  # unknown: neither true nor false
                        setattr(facts, name, None)
        self._observe(profile, answers)
        if count and self.metrics is not None:
            self._count(profile, answers, self.metrics)
        return profile

    def _count(self, profile: Profile, answers: Mapping[str, AgencyAnswer], metrics: Metrics) -> None:
        """The data-quality counters: how each agency's records linked, and where they disagree with the spine."""
        for agency, answer in answers.items():
            if answer.error is not None or agency == self.spine:
                continue
            for record in answer.records:
                metrics.linked.labels(agency, record.via, record.grade).inc()
            if answer.candidates:
                metrics.linked.labels(agency, "unmatched", "none").inc(len(answer.candidates))
        spine_values = {o.field: same_value(o.value) for o in profile.observations if o.agency == self.spine}
        for o in profile.observations:
            if o.agency != self.spine and o.field in spine_values and same_value(o.value) != spine_values[o.field]:
                metrics.disagreements.labels(o.agency, o.field).inc()

    def _take(self, profile: Profile, agency: str, answer: AgencyAnswer) -> None:
        """Add one agency's answer to the profile. Every record is read first and the profile changed only
        after: a record that cannot be read (raising here) leaves nothing of the agency's answer behind."""
        connector = self.connectors[agency]
        first = answer.records[0].raw if answer.records else None
        sections = {name: _section(connector, name, first) for name in connector.sections} if answer.records else {}
        if answer.records and answer.records[0].demographics is None:  # read here, for conflicts, with the rest
            # (the spine's were read once already, for the searches that waited on them)
            answer.records[0].demographics = answer.demographics or extract_demographics(connector, first)
        involvements: list[tuple[Label, dict[str, Any]]] = []
        involved: set[tuple[str, str]] = set()
        for record in answer.records:
            certain = record.grade == "certain"
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
                    involvements.append((inv.label, entry))
                    practitioner = entry.get("practitioner")
                    if certain and isinstance(practitioner, dict) and practitioner.get("id"):
                        involved.add((agency, str(practitioner["id"])))
        consents: list[dict[str, Any]] = []
        restrictive: dict[str, list[Any]] = {}
        for name, fn in connector.facts.items():
            if name == "consents":  # permissive: only from records linked with certainty
                for record in answer.records:
                    value = fn(record.raw) if record.grade == "certain" else None
                    if isinstance(value, list):
                        consents.extend(v for v in value if isinstance(v, dict) and v.get("service"))
            else:  # restrictive (shielded, refuge): any record that might be the child's counts
                restrictive[name] = [fn(raw) for raw in (*(r.raw for r in answer.records), *answer.candidates)]

        facts = profile.facts
        if answer.records:
            facts.held_by.add(agency)
            profile.grades[agency] = answer.records[0].grade
            self._sections(profile, agency, sections)
        profile.involvements.extend((agency, label, entry) for label, entry in involvements)
        facts.involved |= involved
        facts.consents.extend(consents)
        for name, values in restrictive.items():
            if any(v is True for v in values):
                setattr(facts, name, True)
            elif any(v is not False for v in values):  # a flag that says neither yes nor no: unknown
                facts.complete = False
                if getattr(facts, name) is not True:
                    setattr(facts, name, None)

    def _sections(self, profile: Profile, agency: str, sections: Mapping[str, dict[str, Any] | None]) -> None:
        for name, values in sections.items():
            if name == "identity":
                values = values or {}
                for child_field in ("dateOfBirth", "gender", "deceased"):
                    if child_field in values:
                        profile.fields[child_field] = values[child_field]
                        profile.origin[child_field] = agency
                if values.get("given") is not None or values.get("family") is not None:
                    profile.fields["name"] = {"given": values.get("given"), "family": values.get("family")}
                    profile.origin["name"] = agency
                continue
            child_field = SECTIONS[name].child_fields[0]
            if child_field not in profile.fields and values is not None:
                profile.fields[child_field] = values
                profile.origin[child_field] = agency

    def _observe(self, profile: Profile, answers: Mapping[str, AgencyAnswer]) -> None:
        """Each linked agency's date of birth, name, postcode and (against the spine's deceased flag)
        whether it holds the child as alive: the raw material of ``conflicts``."""
        spine = answers.get(self.spine)
        if spine is None or not spine.records:
            return
        base = spine.demographics or spine.records[0].demographics
        if base is None:
            return
        deceased = bool(profile.fields.get("deceased"))
        for agency in sorted(answers):
            answer = answers[agency]
            if not answer.records:
                continue
            first = answer.records[0]
            seen = base if agency == self.spine else first.demographics
            if seen is None:
                continue
            values: dict[str, str | None] = {
                "dateOfBirth": seen.dob.isoformat() if seen.dob else None,
                "name": " ".join(p for p in (seen.given, seen.family) if p) or None,
                "address.postcode": seen.postcode,
                # the spine says the child died; every other agency holding a record holds them as alive
                "deceased": ("true" if agency == self.spine else "false") if deceased else None,
            }
            for name, coordinate in OBSERVED:
                value = values[name]
                if value is not None:
                    profile.observations.append(Observation(name, coordinate, agency, value))


def same_value(value: str) -> str:
    """Values that differ only in case or spacing are the same value."""
    return "".join(ch for ch in value.casefold() if ch.isalnum())
