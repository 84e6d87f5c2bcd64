"""``wardgate policy``: what security teams run on the policy files before they reach a gateway.

wardgate policy check                    load, validate, refuse constructs the embedded engine gets wrong
wardgate policy test                     run every *_cases.yaml table against the configured engine
wardgate policy explain --persona gp --child 9434765919 --field Child.address --purpose routine-care
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from gateway.agencies.connectors import load_connectors
from gateway.config import Settings, load_settings
from gateway.dev import PERSONAS
from gateway.errors import AuditUnavailable, ConfigError
from gateway.graphql.labels import field_table
from gateway.graphql.schema import Child
from gateway.identifiers import nhs_number_is_valid
from gateway.pipeline.link import ChildFacts
from gateway.pipeline.policy.decide import ChildView, Policy
from gateway.pipeline.policy.engines import PolicyBundle
from gateway.server.app import build_engine, build_schema, build_services
from gateway.server.policytools.cases import (
    Case,
    CaseChild,
    Resolver,
    case_files,
    describe,
    describe_obligation,
    load_cases,
    run_case,
)
from gateway.types import Subject
from resolvers import Query


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(policy_dir=args.policy_dir, policy_engine=args.engine)


async def _check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = build_engine(settings)
    try:
        bundle = PolicyBundle.load(settings.policy_dir)
        await engine.load(bundle)
    except ConfigError as exc:
        print(f"policy check failed: {exc}")
        return 1
    finally:
        await engine.aclose()
    print(f"policy ok: {len(bundle.modules)} module(s), revision {bundle.revision}, engine {type(engine).__name__}")
    return 0


def _resolver(settings: Settings) -> Resolver:
    table = field_table(build_schema(settings), (Query, Child))
    connectors = load_connectors(settings.connectors, {}, spine=settings.spine, development=True)
    sections: dict[str, str] = {}
    for agency in sorted(connectors, key=lambda a: a != settings.spine):  # the spine first
        for section in connectors[agency].sections:
            sections.setdefault(section, agency)
    return Resolver(table, sections, spine=settings.spine)


async def _test(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = build_engine(settings)
    policy = Policy(engine, root=settings.policy_dir)
    try:
        files = [Path(p) for p in args.cases] if args.cases else case_files(settings.policy_dir)
        cases = load_cases(files)
        resolver = _resolver(settings)
        await policy.load()
        results = [await run_case(policy, resolver, path, case) for path, case in cases]
    except ConfigError as exc:
        print(f"policy test could not run: {exc}")
        return 2
    finally:
        await engine.aclose()
    failed = [r for r in results if r.failures]
    width = max(len(r.case.name) for r in results)
    for r in results:
        if r.failures or args.verbose:
            print(f"{'FAIL' if r.failures else 'ok  '}  {r.case.name:<{width}}  ({r.checks} checks)")
        for f in r.failures:
            print(f"        {f}")
    checks = sum(r.checks for r in results)
    print(
        f"{len(results)} cases, {checks} checks, {len(failed)} case(s) failed "
        f"- engine {type(engine).__name__}, revision {engine.revision}"
    )
    return 1 if failed else 0


async def _explain(args: argparse.Namespace) -> int:
    """Fetch the child's facts live (or take them from --facts), then decide the one field."""
    settings = _settings(args)
    persona = next((p for p in PERSONAS if p.name == args.persona), None)
    if persona is None:
        print(f"unknown persona {args.persona!r}; known: {', '.join(p.name for p in PERSONAS)}")
        return 2
    subject = Subject(persona.practitioner_id, persona.role, persona.agency, args.mfa, persona.title)
    try:
        resolver = _resolver(settings)
        fc = resolver.field_class(args.field)
    except (ConfigError, ValueError) as exc:
        print(f"cannot explain: {exc}")
        return 2
    engine = build_engine(settings)
    policy = Policy(engine, root=settings.policy_dir)
    try:
        await policy.load()
        if args.facts is not None:
            try:
                child = CaseChild.model_validate(json.loads(args.facts))
            except ValueError as exc:
                print(f"--facts is not a child-facts object: {exc}")
                return 2
            view = Case(
                name="explain", persona=persona.name, two_factor=args.mfa, purpose=args.purpose, expect={}, child=child
            ).view()
            source = "given with --facts"
        else:
            facts, source = await _live_facts(settings, subject, args.child, args.purpose)
            view = ChildView.of(facts, subject)
        outcome = await policy.decide(subject, args.purpose, bool(args.break_glass), view, {fc})
    except ConfigError as exc:
        print(f"cannot explain: {exc}")
        return 2
    finally:
        await engine.aclose()
    decision = outcome.decisions[fc]
    two_factor = "yes" if subject.mfa else "no"
    print(f"persona      {persona.name} ({subject.role}, {subject.agency}, two-factor {two_factor})")
    print(f"purpose      {args.purpose}{'  with break-glass' if args.break_glass else ''}")
    print(f"field        {fc.coordinate}  label {fc.label}, from {fc.agency}")
    print(f"child facts  ({source})")
    print(f"  shielded            {view.shielded}")
    print(f"  refuge              {view.refuge}")
    print(f"  consents            {json.dumps([dict(c) for c in view.consents])}")
    print(f"  requester involved  {view.involved}")
    print(f"  match grade         {view.match_grade}")
    print(f"  facts complete      {view.complete}")
    print(f"decision     {describe(decision)}")
    if outcome.obligations:
        print("obligations  " + "; ".join(describe_obligation(o) for o in outcome.obligations))
    print(f"policy       revision {outcome.revision}, engine {type(engine).__name__}")
    return 0


async def _live_facts(settings: Settings, subject: Subject, child_id: str, purpose: str) -> tuple[ChildFacts, str]:
    """The facts a real request would have: the child pipeline's own plan, fan-out and linking, against the
    configured agencies (and the read audited, as any read is)."""
    if not nhs_number_is_valid(child_id.replace(" ", "")):
        raise ConfigError(f"{child_id!r} is not a valid NHS number")
    services = build_services(settings, build_schema(settings))
    try:
        facts, plan = await services.child.facts(subject, child_id, purpose, "policy-explain")
    except AuditUnavailable as exc:
        raise ConfigError("the audit trail cannot be written, so no live facts are shown") from exc
    finally:
        await services.upstream.aclose()
    return facts, f"fetched live from {', '.join(sorted(plan.agencies))}"


def main(args: argparse.Namespace) -> int:
    commands = {"check": _check, "test": _test, "explain": _explain}
    command = commands.get(args.policy_command)
    if command is None:
        print(f"unknown policy command {args.policy_command!r}", file=sys.stderr)
        return 2
    return asyncio.run(command(args))
