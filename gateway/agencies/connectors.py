"""Connector files: how each agency is reached and how its records map onto the schema.

One YAML file per agency (see ``connectors/*.yaml`` and the README, "Add an agency"). Loading
validates the file, compiles its mapping and checks every section and field it fills exists in the
schema (as :data:`SECTIONS` records it; a unit test holds that to the schema), so a mistake stops
start-up with a message naming the file and the key::

    connectors = load_connectors([Path("connectors")], overrides={"health": {"base_url": "http://..."}})
"""

from __future__ import annotations

import base64
import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.agencies.mapping import Extractor, check_date_format, compile_path, compile_spec
from gateway.agencies.templates import PLACEHOLDERS
from gateway.agencies.templates import parse as parse_template
from gateway.config import HttpUrl
from gateway.dev import DEV_SECRETS
from gateway.errors import ConfigError
from gateway.types import Label


@dataclass(frozen=True, slots=True)
class Section:
    """A part of a Child that a connector can fill: the Child fields it becomes and the names a connector
    maps (schema names, camelCase)."""

    child_fields: tuple[str, ...]
    fields: tuple[str, ...]


SECTIONS: dict[str, Section] = {
    # The identity section fills several Child fields: name {given family}, dateOfBirth, gender, deceased.
    "identity": Section(
        ("name", "dateOfBirth", "gender", "deceased"), ("given", "family", "dateOfBirth", "gender", "deceased")
    ),
    "address": Section(("address",), ("line1", "town", "postcode")),
    "gp": Section(("gp",), ("practiceCode", "practiceName")),
    "school": Section(("school",), ("urn", "name")),
    "earlyHelp": Section(("earlyHelp",), ("cafStatus", "leadProfessional")),
    "socialCare": Section(("socialCare",), ("legalStatus", "planStartDate", "allocatedWorker")),
    "education": Section(("education",), ("attendancePercent", "exclusions", "senStatus", "safeguardingLead")),
    "police": Section(("police",), ("notifications",)),
    "housing": Section(
        ("housing",),
        ("tenancyAddress", "tenancyStart", "temporaryAccommodation", "refuge", "householdSize", "housingOfficer"),
    ),
    "youthJustice": Section(("youthJustice",), ("orders", "worker")),
    "mentalHealth": Section(("mentalHealth",), ("referrals",)),
    "sexualHealth": Section(("sexualHealth",), ("services",)),
}
"""The parts of a Child a connector can fill, the one place this map is written. ``involvements`` are
separate: every agency may add some."""

CHILD_SECTIONS: dict[str, str] = {child: name for name, s in SECTIONS.items() for child in s.child_fields}
"""Child field -> the section that fills it (derived from :data:`SECTIONS`)."""

FACTS = ("shielded", "refuge", "consents")
"""The facts about a child a connector may supply for policy (see ``facts:`` in a connector file)."""

INVOLVEMENT_FIELDS = ("service", "role", "status", "since", "isLeadProfessional", "practitioner")


class CredentialSpec(BaseModel):
    """How the gateway proves itself to an agency. The secret comes from the environment variable
    ``secret_env``; in development only, a ``secret`` written in the file or the development secret in
    :data:`gateway.dev.DEV_SECRETS` stands in for it."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["bearer", "api-key", "basic", "none"]
    secret_env: str | None = Field(None, pattern=r"^[A-Z][A-Z0-9_]*$")
    secret: str | None = None  # development only: production refuses a secret written in a file
    header: str = "X-API-Key"
    user: str = "wardgate"

    def resolve(self, *, development: bool) -> str:
        """The secret; :class:`ConfigError` naming the variable to set if there is none."""
        if self.scheme == "none":
            return ""
        if self.secret_env and os.environ.get(self.secret_env):
            return os.environ[self.secret_env]
        if development:
            if self.secret:
                return self.secret
            if self.secret_env in DEV_SECRETS:
                return DEV_SECRETS[self.secret_env]
        if self.secret and not development:
            raise ConfigError(
                f"a secret written in the connector file is for development; set {self.secret_env or 'secret_env'}"
            )
        raise ConfigError(f"set {self.secret_env or 'secret_env'}: the agency's credential")

    def headers(self, *, development: bool) -> dict[str, str]:
        """The headers that carry this credential (basic auth is encoded here, once)."""
        secret = self.resolve(development=development)
        if self.scheme == "bearer":
            return {"Authorization": f"Bearer {secret}"}
        if self.scheme == "api-key":
            return {self.header: secret}
        if self.scheme == "basic":
            token = base64.b64encode(f"{self.user}:{secret}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        return {}


class LookupSpec(BaseModel):
    """One way to find the child's records at this agency. The first in the file's order that links records
    wins (see :mod:`gateway.pipeline.fanout` for when each is made)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    by: Literal["nhs_number", "demographics", "cross_reference"]
    path: str
    params: dict[str, str] = Field(default_factory=dict)
    records: str = "@"
    not_found: list[int] = Field(default_factory=lambda: [404])
    from_agency: str | None = Field(None, alias="from")
    key: str | None = None


class DemographicsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    given: Any = None
    family: Any = None
    dob: Any = None
    postcode: Any = None
    gender: Any = None


class RecordSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Any
    nhs_number: Any = None
    demographics: DemographicsSpec | None = None
    cross_references: Any = None


class InvolvementSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: str | None = None
    each: str | None = None
    fields: dict[str, Any]
    label: Label = Label.INVOLVEMENT

    @field_validator("fields")
    @classmethod
    def _known(cls, value: dict[str, Any]) -> dict[str, Any]:
        if unknown := set(value) - set(INVOLVEMENT_FIELDS):
            raise ValueError(f"unknown involvement fields {sorted(unknown)}; known: {list(INVOLVEMENT_FIELDS)}")
        return value


class ResilienceSpec(BaseModel):
    """Per-agency overrides of the gateway-wide resilience defaults (``WARDGATE_AGENCY_*``, ``WARDGATE_BREAKER_*``)."""

    model_config = ConfigDict(extra="forbid")

    retries: int | None = Field(None, ge=0, le=5)
    backoff_ms: float | None = Field(None, ge=0, le=5_000)
    max_in_flight: int | None = Field(None, ge=1, le=10_000)
    breaker_threshold: int | None = Field(None, ge=1, le=1_000)
    breaker_reset_s: float | None = Field(None, gt=0, le=3_600)
    hedge: bool | None = None  # a second attempt of a slow read (see WARDGATE_HEDGE_READS)


class ConnectorSpec(BaseModel):
    """The validated content of one connector file."""

    model_config = ConfigDict(extra="forbid")

    agency: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    title: str
    base_url: HttpUrl
    credential: CredentialSpec
    format: Literal["json", "xml"] = "json"
    adapter: str | None = None
    timeout_ms: int = Field(1500, ge=10, le=60_000)
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    presence_label: Label = Label.INVOLVEMENT
    lookups: list[LookupSpec] = Field(min_length=1)
    # concurrent (the default): every lookup starts as soon as its input exists, precedence is applied
    # after; sequential: each lookup only when the one before found nothing (fewest calls, for a
    # rate-limited supplier) — which makes the answer later exactly when the agency holds no record, so
    # it is allowed only for an agency whose holding a record nobody may be denied (presence_label identity).
    lookup_mode: Literal["concurrent", "sequential"] = "concurrent"
    search: LookupSpec | None = None
    record: RecordSpec
    facts: dict[str, Any] = Field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = Field(default_factory=dict)
    involvements: list[InvolvementSpec] = Field(default_factory=list)
    # Where this agency wants to be told that another agency's practitioner read its restricted data
    # (as CP-IS notifies councils). Policy decides when, by the obligation {"kind": "notify"}.
    notify: str | None = Field(None, pattern=r"^/")
    # A cheap GET that says the agency is up (checked by /readyz, with the agency's credential).
    health: str | None = Field(None, pattern=r"^/")
    resilience: ResilienceSpec = ResilienceSpec()

    @field_validator("sections")
    @classmethod
    def _sections_exist(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, fields in value.items():
            if name not in SECTIONS:
                raise ValueError(f"unknown section {name!r}; known: {sorted(SECTIONS)}")
            if unknown := set(fields) - set(SECTIONS[name].fields):
                known = list(SECTIONS[name].fields)
                raise ValueError(f"section {name!r} has no fields {sorted(unknown)}; it has {known}")
        return value

    @model_validator(mode="after")
    def _sequential_only_where_presence_is_no_secret(self) -> ConnectorSpec:
        if self.lookup_mode == "sequential" and len(self.lookups) > 1 and self.facts:
            raise ValueError(
                "lookup_mode: sequential would leave out the fallback searches' candidates, and a restrictive fact"
                " counts from candidates; an agency that supplies facts looks up concurrently"
            )
        if self.lookup_mode == "sequential" and self.presence_label is not Label.IDENTITY and len(self.lookups) > 1:
            raise ValueError(
                "lookup_mode: sequential would let a requester time whether this agency holds a record (a fallback"
                " lookup runs only when the first finds nothing), and its presence_label is"
                f" {self.presence_label.value}; use concurrent"
            )
        return self

    @field_validator("facts")
    @classmethod
    def _facts_known(cls, value: dict[str, Any]) -> dict[str, Any]:
        if unknown := set(value) - set(FACTS):
            raise ValueError(f"unknown facts {sorted(unknown)}; known: {sorted(FACTS)}")
        return value


@dataclass(slots=True)
class Lookup:
    spec: LookupSpec
    records: Extractor


@dataclass(slots=True)
class Involvements:
    when: Extractor | None
    each: Extractor | None
    fields: list[tuple[str, Extractor]]
    label: Label


@dataclass(slots=True)
class Connector:
    """A loaded connector: the spec plus its compiled extractors and resolved credential headers."""

    spec: ConnectorSpec
    source: Path | None
    headers: dict[str, str]
    lookups: list[Lookup]
    search: Lookup | None
    record_id: Extractor
    nhs_number: Extractor | None
    demographics: dict[str, Extractor]
    cross_references: Extractor | None
    facts: dict[str, Extractor]
    sections: dict[str, list[tuple[str, Extractor]]]
    involvements: list[Involvements] = field(default_factory=list)
    decode: Callable[[bytes], Any] = orjson.loads  # the wire format: JSON, or the adapter's ``decode``

    @property
    def agency(self) -> str:
        return self.spec.agency

    def needs(self, spine: str) -> set[str]:
        """Agencies whose answer this one's lookups wait for (the spine for demographics, cross-reference owners);
        :func:`load_connectors` refuses a file whose lookups wait, through others or directly, on itself."""
        out: set[str] = set()
        for lookup in self.spec.lookups:
            if lookup.by == "demographics":
                out.add(spine)
            elif lookup.by == "cross_reference" and lookup.from_agency:
                out.add(lookup.from_agency)
        return out


def _compile(spec: ConnectorSpec, source: Path | None, development: bool) -> Connector:
    where = str(source) if source else spec.agency

    def c(value: Any, key: str) -> Extractor:
        return compile_spec(value, f"{where}: {key}")

    named = [(f"lookups[{i}]", lk) for i, lk in enumerate(spec.lookups)]
    named += [("search", spec.search)] if spec.search else []
    for key, lookup in named:
        for template in (lookup.path, *lookup.params.values()):
            for _, name, fmt in parse_template(template):
                if name is not None and name not in PLACEHOLDERS:
                    known = ", ".join(sorted(PLACEHOLDERS))
                    raise ConfigError(f"{where}: {key} uses unknown placeholder {{{name}}}; known: {known}")
                if fmt:
                    check_date_format(fmt, f"{where}: {key} {{{name}:{fmt}}}")
    for i, lookup in enumerate(spec.lookups):
        if lookup.by == "cross_reference" and not (lookup.from_agency and lookup.key):
            raise ConfigError(f"{where}: lookups[{i}] by cross_reference needs 'from' and 'key'")
    demographics: dict[str, Extractor] = {}
    if spec.record.demographics is not None:
        for name, value in spec.record.demographics.model_dump().items():
            if value is not None:
                demographics[name] = c(value, f"record.demographics.{name}")
    involvements = [
        Involvements(
            when=compile_path(inv.when, f"{where}: involvements[{i}].when") if inv.when else None,
            each=compile_path(inv.each, f"{where}: involvements[{i}].each") if inv.each else None,
            fields=[(k, c(v, f"involvements[{i}].{k}")) for k, v in inv.fields.items()],
            label=inv.label,
        )
        for i, inv in enumerate(spec.involvements)
    ]
    enum_lookups = list(enumerate(spec.lookups))
    return Connector(
        decode=_decoder(spec, where),
        spec=spec,
        source=source,
        headers=_credential_headers(spec, where, development),
        lookups=[Lookup(lk, compile_path(lk.records, f"{where}: lookups[{i}].records")) for i, lk in enum_lookups],
        search=Lookup(spec.search, compile_path(spec.search.records, f"{where}: search.records"))
        if spec.search
        else None,
        record_id=c(spec.record.id, "record.id"),
        nhs_number=c(spec.record.nhs_number, "record.nhs_number") if spec.record.nhs_number else None,
        demographics=demographics,
        cross_references=c(spec.record.cross_references, "record.cross_references")
        if spec.record.cross_references
        else None,
        facts={k: c(v, f"facts.{k}") for k, v in spec.facts.items()},
        sections={
            name: [(f, c(v, f"sections.{name}.{f}")) for f, v in fields.items()]
            for name, fields in spec.sections.items()
        },
        involvements=involvements,
    )


def _decoder(spec: ConnectorSpec, where: str) -> Callable[[bytes], Any]:
    """How the agency's bodies are read: JSON, or an adapter module's ``decode(body)``."""
    if not spec.adapter:
        return orjson.loads
    try:
        module = importlib.import_module(spec.adapter)
    except ImportError as exc:
        raise ConfigError(f"{where}: adapter {spec.adapter!r} cannot be imported: {exc}") from exc
    decode = getattr(module, "decode", None)
    if not callable(decode):
        raise ConfigError(f"{where}: adapter {spec.adapter!r} has no decode(body) function")
    return decode  # type: ignore[no-any-return]


def _credential_headers(spec: ConnectorSpec, where: str, development: bool) -> dict[str, str]:
    try:
        return spec.credential.headers(development=development)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None


def parse_connector(
    text: str,
    source: Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    development: bool = False,
) -> Connector:
    where = str(source) if source else "<connector>"
    raw = _read_yaml(text, where)
    if overrides:
        raw = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        spec = ConnectorSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError.invalid(where, exc, ConnectorSpec) from None
    return _compile(spec, source, development)


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError.not_yaml(where, exc) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a connector file is a mapping (agency:, title:, base_url:, ...)")
    return raw


def load_connectors(
    directories: Iterable[Path],
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    spine: str,
    development: bool = False,
) -> dict[str, Connector]:
    """Every ``*.yaml`` connector in the directories, by agency. Duplicate agencies are an error."""
    overrides = overrides or {}
    directories = list(directories)
    out: dict[str, Connector] = {}
    for directory in directories:
        if not directory.is_dir():
            raise ConfigError(f"connector directory {directory} does not exist")
        for path in sorted(directory.glob("*.yaml")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
            agency = _read_yaml(text, str(path)).get("agency")
            connector = parse_connector(text, path, overrides.get(str(agency), {}), development=development)
            if connector.agency in out:
                raise ConfigError(
                    f"{path}: agency {connector.agency!r} is already defined by {out[connector.agency].source}"
                )
            out[connector.agency] = connector
    if not out:
        raise ConfigError(f"no connector files (*.yaml) in {', '.join(str(d) for d in directories)}")
    if unknown := sorted(set(overrides) - set(out)):
        known = ", ".join(sorted(out))
        raise ConfigError(f"agency_urls names {', '.join(unknown)}, which has no connector; known: {known}")
    if spine not in out:
        raise ConfigError(f"the spine agency {spine!r} has no connector (WARDGATE_SPINE names it)")
    if not any(lk.by == "nhs_number" for lk in out[spine].spec.lookups):
        raise ConfigError(f"{out[spine].source}: the spine agency must be looked up by nhs_number")
    for connector in out.values():
        for dep in connector.needs(spine):
            if dep not in out:
                raise ConfigError(f"{connector.source}: looks records up through {dep!r}, which has no connector")
    if cycle := _waiting_cycle(out, spine):
        raise ConfigError(
            f"{out[cycle[0]].source}: its lookups wait on {' -> '.join(cycle)}, which waits on it again;"
            " a lookup may wait only on agencies that never wait on it"
        )
    return out


def _waiting_cycle(connectors: Mapping[str, Connector], spine: str) -> list[str] | None:
    """Agencies whose lookups wait on each other in a circle (the first found, as a path back to its start):
    each would wait for the other until the deadline."""
    state: dict[str, int] = {}  # 1: on the path being walked, 2: finished

    def walk(agency: str, path: list[str]) -> list[str] | None:
        state[agency] = 1
        for dep in sorted(connectors[agency].needs(spine)):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := walk(dep, [*path, dep])):
                return found
        state[agency] = 2
        return None

    for agency in sorted(connectors):
        if agency not in state and (found := walk(agency, [agency])):
            return found
    return None
