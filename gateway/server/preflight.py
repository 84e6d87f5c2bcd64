"""A deployment's whole configuration, checked without starting anything: what ``wardgate config check``
reports and what ``wardgate run`` checks before it binds a port.

    wardgate config check --config /etc/wardgate/wardgate.toml

Each check names what it read and either sums it up or says, in one line, what is wrong and where: the
settings and ``WARDGATE_*`` variables, the connector files, the schema's labels and the trusted documents,
the services built from them (keys, rate limits, cache), the policy files (compiled by the embedded engine,
whichever engine serves them), the policy case tables, and the audit trail's place on disk.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import strawberry

from gateway.agencies.connectors import Connector, load_connectors
from gateway.config import CONFIG_VARIABLE, Settings, unknown_variables
from gateway.errors import ConfigError
from gateway.graphql.labels import field_table
from gateway.graphql.limits import TrustedDocuments
from gateway.graphql.schema import Child
from gateway.pipeline.audit import AuditTrail
from gateway.pipeline.policy.engines import EmbeddedEngine, PolicyBundle
from gateway.server.app import build_schema, build_services
from gateway.server.policytools.cases import Resolver, case_files, load_cases, unknown_policy_fields
from resolvers import Query


@dataclass(slots=True)
class Finding:
    """One check's outcome: ``ok``, a problem (``ok`` false), or ``skipped`` because a check it needs failed."""

    name: str
    ok: bool
    detail: str
    skipped: bool = False


@dataclass(slots=True)
class _Deployment:
    settings: Settings
    connectors: dict[str, Connector] = field(default_factory=dict)
    schema: strawberry.Schema | None = None
    bundle: PolicyBundle | None = None


def check_deployment(
    settings: Settings, *, case_tables: bool = True, first_problem_raises: bool = False
) -> list[Finding]:
    """Every check, in order; one :class:`Finding` each. With ``first_problem_raises`` (``wardgate run``) the first
    problem is raised as :class:`ConfigError` instead. A check whose input failed is not run."""
    deployment = _Deployment(settings)
    checks: list[tuple[str, Callable[[_Deployment], str], tuple[str, ...]]] = [
        ("mode", _mode, ()),
        ("connectors", _connectors, ()),
        ("variables", _variables, ("connectors",)),
        ("schema", _schema, ()),
        ("services", _services, ("connectors", "schema")),
        ("policy", _policy, ()),
        ("policy fields", _policy_fields, ("schema", "policy")),
        ("audit trail", _audit_trail, ()),
    ]
    if case_tables:
        checks.append(("case tables", _case_tables, ("connectors", "schema", "policy")))
    findings: list[Finding] = []
    failed: set[str] = set()
    for name, check, needs in checks:
        if missing := [n for n in needs if n in failed]:
            failed.add(name)
            findings.append(Finding(name, False, f"not checked: needs {', '.join(missing)}", skipped=True))
            continue
        try:
            findings.append(Finding(name, True, check(deployment)))
        except ConfigError as exc:
            if first_problem_raises:
                raise
            failed.add(name)
            findings.append(Finding(name, False, exc.message))
    return findings


def _mode(d: _Deployment) -> str:
    if problems := d.settings.production_problems():
        raise ConfigError("production mode: " + "; ".join(problems))
    source = os.environ.get(CONFIG_VARIABLE)
    return f"{d.settings.mode}, settings from {source or 'defaults'} and WARDGATE_* variables"


def _connectors(d: _Deployment) -> str:
    s = d.settings
    overrides = {a: {"base_url": u} for a, u in s.agency_urls.items()}
    d.connectors = load_connectors(s.connectors, overrides, spine=s.spine, development=s.development)
    return f"{len(d.connectors)} agencies ({', '.join(sorted(d.connectors))}), spine {s.spine}"


def _variables(d: _Deployment) -> str:
    secrets = [c.spec.credential.secret_env for c in d.connectors.values() if c.spec.credential.secret_env]
    if unknown := unknown_variables(os.environ, secrets):
        raise ConfigError(f"unknown variable {'; '.join(unknown)}: it sets nothing")
    return "every WARDGATE_* variable is a setting or a connector's secret"


def _schema(d: _Deployment) -> str:
    d.schema = build_schema(d.settings)  # every field labelled, limits built, trusted documents loaded
    fields = sum(len(f) for f in field_table(d.schema, (Query, Child)).values())
    documents = "off"
    if d.settings.trusted_documents == "require" and d.settings.trusted_documents_path is not None:
        registry = TrustedDocuments.load(d.settings.trusted_documents_path)
        try:
            registry.check(d.schema)
        except ConfigError as exc:
            raise ConfigError(f"{d.settings.trusted_documents_path}: {exc.message}") from None
        documents = f"{len(registry.documents)} registered, each valid against the schema"
    return f"{fields} fields, each labelled; trusted documents {documents}"


def _services(d: _Deployment) -> str:
    assert d.schema is not None
    services = build_services(d.settings, d.schema)  # signing keys, rate limits, cache and audit sink
    asyncio.run(services.upstream.aclose())
    keys = d.settings.jwks_url or d.settings.jwks_path
    return f"token keys from {keys}; search rate {d.settings.search_rate}; cache {d.settings.cache_url}"


def _policy(d: _Deployment) -> str:
    bundle = d.bundle = PolicyBundle.load(d.settings.policy_dir)
    asyncio.run(EmbeddedEngine().load(bundle))
    engine = d.settings.policy_engine
    served = "" if engine == "embedded" else f"; served by OPA at {d.settings.opa_url}, asked at start-up"
    return f"{len(bundle.modules)} module(s) under {d.settings.policy_dir} compile, revision {bundle.revision}{served}"


def _policy_fields(d: _Deployment) -> str:
    assert d.schema is not None and d.bundle is not None
    named = d.bundle.named_fields
    if unknown := unknown_policy_fields(d.bundle, d.schema):
        raise ConfigError(f"the policy names {', '.join(unknown)}, which the schema does not have")
    return f"the {len(named)} Type.field names the policy uses are all in the schema"


def _case_tables(d: _Deployment) -> str:
    assert d.schema is not None
    files = case_files(d.settings.policy_dir)
    if not files:
        return f"none under {d.settings.policy_dir}"
    cases = load_cases(files, Resolver.for_deployment(d.schema, d.connectors, spine=d.settings.spine))
    return f"{len(cases)} cases in {len(files)} file(s), every field and expectation valid"


def _audit_trail(d: _Deployment) -> str:
    """This instance's chain (audit_path's, for its ``instance``) can be appended to."""
    trail = AuditTrail.at(d.settings.audit_path)
    path = trail.chain(d.settings.instance)
    named = f"audit_path {d.settings.audit_path}" + (f": this instance's chain {path}" if trail.per_instance else "")
    if path.exists():
        if not path.is_file():
            raise ConfigError(f"{named} is not a file")
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{named} is not writable by this user")
        return f"{path} ({path.stat().st_size} bytes)"
    parent = _existing_parent(path)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{named}: {parent} is not a writable directory")
    return f"{path} (created on the first record)"


def _existing_parent(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path("/")
