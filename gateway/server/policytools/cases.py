"""Policy case tables: what security teams write to say what the policy must decide, and the runner.

A case table is a YAML file named ``*_cases.yaml`` beside the policy it tests::

    cases:
      - name: a GP sees who the child is for routine care
        persona: gp                 # or role: / agency:
        two_factor: no
        purpose: routine-care
        break_glass: no
        child: {shielded: no, consents: [], involved: no, match: certain, complete: yes}
        expect:
          Child.name: allow IDENTITY
          Child.police: deny TWO_FACTOR_REQUIRED
          Address.postcode: mask postcode-district
          Involvement.service @camhs as sensitive: deny NO_CONSENT
        obligations: []             # optional; when given, compared exactly

A field is ``Type.field`` as in the schema, optionally ``@agency`` (the agency the value came from;
by default the agency whose connector fills that part of the child) and ``as label`` (for labels
that depend on the record). The label otherwise comes from the schema itself, so a relabelled field
shows up here. An expectation is ``allow``, ``deny`` or ``mask <kind>``, optionally followed by the
reason code.

Each case is one evaluation through the real policy stage (:meth:`gateway.pipeline.policy.decide.Policy.decide`),
against whichever engine is configured — the same path a request takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import strawberry
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.agencies.connectors import CHILD_SECTIONS, Connector
from gateway.dev import PERSONAS, ROLES
from gateway.errors import ConfigError
from gateway.graphql.labels import FieldTable, field_table
from gateway.graphql.schema import Child
from gateway.pipeline.link import ChildFacts
from gateway.pipeline.policy.decide import ChildView, Policy
from gateway.pipeline.policy.engines import PolicyBundle
from gateway.pipeline.policy.masks import MASKS
from gateway.types import Decision, FieldClass, Label, Purpose, Subject
from resolvers import Query

_FIELD = re.compile(
    r"^(?P<coord>[A-Z][A-Za-z]*\.[a-z][A-Za-z0-9]*)"
    r"(?:\s+@(?P<agency>[a-z][a-z0-9-]*))?"
    r"(?:\s+as\s+(?P<label>[a-z]+))?$"
)
_REASON = re.compile(r"^[A-Z][A-Z0-9_]*$")


class CaseConsent(BaseModel):
    """A recorded consent, as the social care connector reports it: which service, for which roles and purposes."""

    model_config = ConfigDict(extra="forbid")

    service: str
    roles: list[str]
    purposes: list[Purpose]


class CaseChild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shielded: bool | None = False  # null: the flag was there but said neither yes nor no
    refuge: bool | None = False
    consents: list[CaseConsent] = Field(default_factory=list)
    involved: bool = False
    match: Literal["certain", "probable", "possible"] = "certain"
    weak_agencies: list[str] = Field(default_factory=list)
    complete: bool = True

    def view(self, subject: Subject) -> ChildView:
        """What policy is told about this child when ``subject`` asks (involved, when ``involved`` says so)."""
        facts = ChildFacts(
            shielded=self.shielded,
            refuge=self.refuge,
            consents=[consent.model_dump(mode="json") for consent in self.consents],
            complete=self.complete,
        )
        if self.involved:
            facts.involved.add((subject.agency, subject.practitioner_id))
        return ChildView.of(facts, subject, match_grade=self.match, weak_agencies=self.weak_agencies)


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    persona: str | None = None
    role: str | None = None
    agency: str | None = None
    two_factor: bool = False
    purpose: str
    break_glass: bool = False
    child: CaseChild = Field(default_factory=CaseChild)
    expect: dict[str, str] = Field(min_length=1)
    obligations: list[str] | None = None

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str) -> str:
        known = [p.value for p in Purpose]
        if value not in known:
            raise ValueError(f"unknown purpose {value!r}; known: {', '.join(known)}")
        return value

    def subject(self, agencies: Iterable[str] = ()) -> Subject:
        """Who asks; ``agencies`` (when given) are the agencies a case may name."""
        role, agency, pid = self.role, self.agency, "P-CASE"
        if self.persona is not None:
            persona = next((p for p in PERSONAS if p.name == self.persona), None)
            if persona is None:
                raise ValueError(f"unknown persona {self.persona!r}; known: {', '.join(p.name for p in PERSONAS)}")
            role, agency, pid = role or persona.role, agency or persona.agency, persona.practitioner_id
        if not role or not agency:
            raise ValueError("a case names a persona, or both role and agency")
        known = {*agencies, *(r.agency for r in ROLES)} if agencies else set()
        if known and agency not in known:
            raise ValueError(f"unknown agency {agency!r}; known: {', '.join(sorted(known))}")
        return Subject(practitioner_id=pid, role=role, agency=agency, mfa=self.two_factor)

    def view(self, subject: Subject) -> ChildView:
        return self.child.view(subject)


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[Case]


@dataclass(frozen=True, slots=True)
class Check:
    field: str
    fc: FieldClass
    expected: Decision
    reason_given: bool
    mask_given: bool


@dataclass(frozen=True, slots=True)
class LoadedCase:
    """A case as loaded: every persona, agency, field and expectation in it already checked."""

    source: Path
    case: Case
    subject: Subject
    checks: tuple[Check, ...]


@dataclass(slots=True)
class CaseResult:
    case: Case
    source: Path
    failures: list[str]
    checks: int


class Resolver:
    """Turns ``Type.field [@agency] [as label]`` into a field class, with the schema's labels and the agencies
    the connectors define."""

    def __init__(
        self, table: FieldTable, section_agencies: dict[str, str], *, spine: str, agencies: Iterable[str] = ()
    ) -> None:
        self.spine = spine
        self.agencies = frozenset(agencies) | {spine, *section_agencies.values()}
        self.labels: dict[str, Label] = {}
        self.type_agency: dict[str, str] = {}
        by_name = {cls.__name__: fields for cls, fields in table.items()}
        for fields in by_name.values():
            for info in fields.values():
                self.labels[info.coordinate] = info.label
        child = by_name.get("Child", {})
        for name, info in child.items():
            agency = section_agencies.get(CHILD_SECTIONS.get(name, ""), spine)
            self.type_agency.setdefault(f"Child.{name}", agency)
            pending = [info.target] if info.target is not None else []
            while pending:
                cls = pending.pop()
                if cls.__name__ in self.type_agency:
                    continue
                self.type_agency[cls.__name__] = agency
                pending.extend(i.target for i in table[cls].values() if i.target is not None)

    @classmethod
    def for_deployment(cls, schema: strawberry.Schema, connectors: Mapping[str, Connector], *, spine: str) -> Resolver:
        """The resolver for this schema and these connectors: each section's agency is the connector that fills
        it (the spine first)."""
        sections: dict[str, str] = {}
        for agency in sorted(connectors, key=lambda a: a != spine):
            for section in connectors[agency].sections:
                sections.setdefault(section, agency)
        return cls(field_table(schema, (Query, Child)), sections, spine=spine, agencies=connectors)

    def field_class(self, text: str) -> FieldClass:
        m = _FIELD.match(text.strip())
        if m is None:
            raise ValueError(f"{text!r} is not `Type.field [@agency] [as label]`")
        coord = m["coord"]
        if coord not in self.labels:
            raise ValueError(f"{coord} is not a field of the schema")
        label = m["label"] or self.labels[coord].value
        if label not in {lb.value for lb in Label}:
            raise ValueError(f"unknown label {label!r} in {text!r}")
        if m["agency"] and m["agency"] not in self.agencies:
            raise ValueError(f"unknown agency {m['agency']!r} in {text!r}; known: {', '.join(sorted(self.agencies))}")
        type_name = coord.split(".", 1)[0]
        agency = m["agency"] or self.type_agency.get(coord) or self.type_agency.get(type_name, self.spine)
        return FieldClass(label, agency, coord)


def unknown_policy_fields(bundle: PolicyBundle, schema: strawberry.Schema) -> list[str]:
    """``Type.field`` names written in the policy (Rego or data) that are not fields of the schema: a rule or
    a list naming one would silently never apply."""
    known = {info.coordinate for fields in field_table(schema, (Query, Child)).values() for info in fields.values()}
    return sorted(bundle.named_fields - known)


def parse_expectation(text: str) -> tuple[Decision, bool, bool]:
    """``allow [REASON]``, ``deny [REASON]`` or ``mask KIND [REASON]`` -> (decision, reason given, mask given)."""
    words = str(text).split()
    usage = f"{text!r} is not `allow [REASON]`, `deny [REASON]` or `mask KIND [REASON]`"
    if not words or words[0] not in ("allow", "deny", "mask"):
        raise ValueError(usage)
    action, rest = words[0], words[1:]
    mask = None
    if action == "mask":
        if not rest or rest[0] not in MASKS:
            raise ValueError(f"{text!r}: say which mask ({', '.join(MASKS)})")
        mask, rest = rest[0], rest[1:]
    if len(rest) > 1 or (rest and not _REASON.match(rest[0])):
        raise ValueError(usage)
    reason = rest[0] if rest else ""
    return Decision(action, reason, mask), bool(reason), mask is not None  # type: ignore[arg-type]


def load_cases(paths: list[Path], resolver: Resolver) -> list[LoadedCase]:
    """Every case of every file, each checked whole (persona, agencies, fields, expectations) before any runs."""
    out: list[LoadedCase] = []
    for path in paths:
        for i, case in enumerate(_read_case_file(path)):
            try:
                subject = case.subject(resolver.agencies)
                checks = []
                for text, expected in case.expect.items():
                    decision, reason_given, mask_given = parse_expectation(expected)
                    checks.append(Check(text, resolver.field_class(text), decision, reason_given, mask_given))
            except ValueError as exc:
                raise ConfigError(f"{path}: cases[{i}] {case.name!r}: {exc}") from None
            out.append(LoadedCase(path, case, subject, tuple(checks)))
    if not out:
        raise ConfigError("no cases found (files named *_cases.yaml with a `cases:` list)")
    return out


def _read_case_file(path: Path) -> list[Case]:
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory; give case files (*_cases.yaml)") from None
    except FileNotFoundError:
        raise ConfigError(f"case file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError.not_yaml(str(path), exc) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a case table is a mapping with a `cases:` list (see the README)")
    try:
        return CaseFile.model_validate(raw).cases
    except ValidationError as exc:
        raise ConfigError.invalid(str(path), exc, CaseFile) from None


def case_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*_cases.yaml")) if root.is_dir() else [root]


async def run_case(policy: Policy, loaded: LoadedCase) -> CaseResult:
    """One evaluation for the whole case; every expectation compared."""
    case, subject, checks = loaded.case, loaded.subject, loaded.checks
    outcome = await policy.decide(subject, case.purpose, case.break_glass, case.view(subject), {c.fc for c in checks})
    failures = []
    for c in checks:
        got = outcome.decisions[c.fc]
        ok = got.action == c.expected.action
        ok = ok and (not c.reason_given or got.reason == c.expected.reason)
        ok = ok and (not c.mask_given or got.mask == c.expected.mask)
        if not ok:
            failures.append(f"{c.field}: expected {describe(c.expected)}, got {describe(got)}")
    if case.obligations is not None:
        got_obl = sorted(describe_obligation(o) for o in outcome.obligations)
        if got_obl != sorted(case.obligations):
            failures.append(f"obligations: expected {sorted(case.obligations)}, got {got_obl}")
    return CaseResult(case, loaded.source, failures, len(checks) + (case.obligations is not None))


def describe(d: Decision) -> str:
    return " ".join(p for p in (d.action, d.mask, d.reason) if p)


def describe_obligation(o: dict[str, Any]) -> str:
    return " ".join(str(p) for p in (o.get("kind"), o.get("agency"), o.get("reason")) if p)
