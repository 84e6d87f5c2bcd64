"""``wardgate policy``: what security teams run on the policy files before they reach a gateway.

wardgate policy check                    load, validate, refuse constructs the embedded engine gets wrong
wardgate policy test                     run every *_cases.yaml table against the configured engine
wardgate policy explain --persona gp --child 9434765919 --field Child.address --purpose routine-care
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from pydantic import ValidationError

from gateway.agencies.connectors import load_connectors
from gateway.config import Settings
from gateway.dev import PERSONAS
from gateway.errors import AuditUnavailable, ConfigError, UsageError, describe_invalid
from gateway.identifiers import nhs_number_is_valid
from gateway.pipeline.link import ChildFacts
from gateway.pipeline.policy.decide import ChildView, Policy
from gateway.pipeline.policy.engines import PolicyBundle
from gateway.server.app import build_engine, build_schema, build_services
from gateway.server.boundary import command_settings
from gateway.server.policytools.cases import (
    CaseChild,
    Resolver,
    case_files,
    describe,
    describe_obligation,
    load_cases,
    run_case,
    unknown_policy_fields,
)
from gateway.types import Subject


def _settings(args: argparse.Namespace) -> Settings:
    return command_settings(args.config, policy_dir=args.policy_dir, policy_engine=args.engine)


async def _check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    bundle = PolicyBundle.load(settings.policy_dir)
    if unknown := unknown_policy_fields(bundle, build_schema(settings)):
        raise ConfigError(f"the policy names {', '.join(unknown)}, which the schema does not have")
    engine = build_engine(settings)
    try:
        await engine.load(bundle)
    finally:
        await engine.aclose()
    print(f"policy ok: {len(bundle.modules)} module(s), revision {bundle.revision}, engine {type(engine).__name__}")
    return 0


def _resolver(settings: Settings) -> Resolver:
    connectors = load_connectors(settings.connectors, {}, spine=settings.spine, development=True)
    return Resolver.for_deployment(build_schema(settings), connectors, spine=settings.spine)


async def _test(args: argparse.Namespace) -> int:
    settings = _settings(args)
    files = [Path(p) for p in args.cases] if args.cases else case_files(settings.policy_dir)
    cases = load_cases(files, _resolver(settings))  # every case checked whole before the engine is started
    engine = build_engine(settings)
    policy = Policy(engine, root=settings.policy_dir)
    try:
        await policy.load()
        results = [await run_case(policy, loaded) for loaded in cases]
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
        raise UsageError(f"unknown persona {args.persona!r}; known: {', '.join(p.name for p in PERSONAS)}")
    subject = Subject(persona.practitioner_id, persona.role, persona.agency, args.mfa, persona.title)
    try:
        fc = _resolver(settings).field_class(args.field)
    except ValueError as exc:
        raise UsageError(f"--field: {exc}") from None
    view, source, unanswered = _given_facts(args, subject)
    if view is None:
        facts, source, unanswered = await _live_facts(settings, subject, args.child, args.purpose)
        view = ChildView.of(facts, subject)
    engine = build_engine(settings)
    policy = Policy(engine, root=settings.policy_dir)
    try:
        await policy.load()
        outcome = await policy.decide(subject, args.purpose, bool(args.break_glass), view, {fc})
    finally:
        await engine.aclose()
    decision = outcome.decisions[fc]
    two_factor = "yes" if subject.mfa else "no"
    print(f"persona      {persona.name} ({subject.role}, {subject.agency}, two-factor {two_factor})")
    print(f"purpose      {args.purpose}{'  with break-glass' if args.break_glass else ''}")
    print(f"field        {fc.coordinate}  label {fc.label}, from {fc.agency}")
    print(f"child facts  ({source})")
    if unanswered:
        print(f"  NO ANSWER from      {unanswered}: the facts and decision are what a request would get now")
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


def _given_facts(args: argparse.Namespace, subject: Subject) -> tuple[ChildView | None, str, str]:
    if args.facts is None:
        return None, "", ""
    try:
        child = CaseChild.model_validate(json.loads(args.facts))
    except json.JSONDecodeError as exc:
        raise UsageError(f"--facts is not JSON: {exc}") from None
    except ValidationError as exc:
        raise UsageError(f"--facts is not a child-facts object: {describe_invalid(exc, CaseChild)}") from None
    return child.view(subject), "given with --facts", ""


async def _live_facts(settings: Settings, subject: Subject, child_id: str, purpose: str) -> tuple[ChildFacts, str, str]:
    """The facts a real request would have: the child pipeline's own plan, fan-out and linking, against the
    configured agencies (and the read audited, as any read is). Which agencies gave no usable answer is read
    from this run's own metrics, which count each agency's failure by its code."""
    if not nhs_number_is_valid(child_id.replace(" ", "")):
        raise UsageError(f"--child {child_id!r} is not a valid NHS number (10 digits with a check digit)")
    services = build_services(settings, build_schema(settings))
    try:
        facts, plan = await services.child.facts(subject, child_id, purpose, "policy-explain")
    except AuditUnavailable as exc:
        raise ConfigError(
            f"the audit trail {settings.audit_path} cannot be written, so no live facts are shown"
        ) from exc
    finally:
        await services.upstream.aclose()
    failed = {
        sample.labels["agency"]: sample.labels["code"]
        for metric in services.metrics.agency_errors.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.value > 0
    }
    if failed and set(failed) >= plan.agencies:
        where = ", ".join(f"{a} at {services.clients[a].base_url} ({code})" for a, code in sorted(failed.items()))
        raise ConfigError(f"no agency answered: {where}; are they running (wardgate mocks)? Or give --facts instead")
    unanswered = ", ".join(f"{a} ({code})" for a, code in sorted(failed.items()))
    return facts, f"fetched live from {', '.join(sorted(plan.agencies))}", unanswered


def main(args: argparse.Namespace) -> int:
    commands = {"check": _check, "test": _test, "explain": _explain}
    return asyncio.run(commands[args.policy_command](args))
