"""The ``wardgate`` command: run the gateway and the mock agencies, mint dev tokens, check policies, audit."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from gateway.dev import PERSONAS
from gateway.dev.tokens import dev_token
from gateway.errors import ConfigError, UsageError
from gateway.pipeline.audit import AuditTrail, verify_trail
from gateway.pipeline.search import search_digest
from gateway.server import quality
from gateway.server.boundary import (
    PORT,
    CommandParser,
    command_settings,
    int_between,
    package_version,
    run_command,
    shared_option,
)
from gateway.server.logs import logging_config
from gateway.server.policytools import commands
from gateway.server.ports import ensure_free, listen
from gateway.server.preflight import check_deployment
from gateway.types import Purpose


def _personas(args: argparse.Namespace) -> int:
    for p in PERSONAS:
        print(f"{p.name:<18} {p.practitioner_id}  role={p.role:<30} agency={p.agency:<14} {p.title}")
    return 0


def _token(args: argparse.Namespace) -> int:
    try:
        print(dev_token(args.persona, mfa=args.mfa, ttl_s=args.ttl))
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    return 0


def _run(args: argparse.Namespace) -> int:
    settings = command_settings(args.config, host=args.host, port=args.port, workers=args.workers)
    # The whole configuration, as `wardgate config check` sees it, before the port is bound: a mistake is one
    # line here rather than a worker's crash report.
    check_deployment(settings, case_tables=False, first_problem_raises=True)
    # One app on two listeners: the public port, and the operator port where /metrics answers
    # (gateway.server.http.OperatorRoutes tells them apart by the port a request came in on). Both are bound
    # here, before anything starts, so a busy port is one line; uvicorn's workers inherit them.
    sockets = [
        listen(settings.host, settings.port, "gateway"),
        listen(settings.operator_host, settings.operator_port, "operator listener"),
    ]
    os.environ.setdefault("WARDGATE_HOST", settings.host)
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # prometheus_client's multiprocess mode: each worker writes its values here; /metrics sums them.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="wardgate-metrics-")

    config = uvicorn.Config(
        "gateway.server.asgi:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_keep_alive=75,
        backlog=4096,
    )
    if settings.workers > 1:
        Multiprocess(config, sockets=sockets).run()
    else:
        uvicorn.Server(config).run(sockets=sockets)
    return 0


MOCKS_HOST, MOCKS_BASE_PORT, MOCK_AGENCIES = "127.0.0.1", 9100, 9  # as `wardgate mocks` serves them


def _demo(args: argparse.Namespace) -> int:
    os.environ["WARDGATE_MODE"] = "development"  # the demo asks for development explicitly: dev keys, personas
    settings = command_settings(args.config)
    # Every port the demo needs, before anything starts: a second `make demo` says so in one line.
    last = MOCKS_BASE_PORT + MOCK_AGENCIES - 1
    ensure_free(
        MOCKS_HOST, {f"mock agencies {MOCKS_BASE_PORT}-{last}": port for port in range(MOCKS_BASE_PORT, last + 1)}
    )
    ensure_free(settings.host, {"gateway": settings.port})
    ensure_free(settings.operator_host, {"operator listener": settings.operator_port})
    check_deployment(settings, case_tables=False, first_problem_raises=True)
    command = [sys.executable, "-m", "mocks", "mocks", "--children", str(args.children), "--seed", str(args.seed)]
    mocks = subprocess.Popen([*command, "--base-port", str(MOCKS_BASE_PORT)], stdout=subprocess.PIPE, text=True)
    assert mocks.stdout is not None
    try:
        for line in mocks.stdout:
            print(line, end="")
            if line.strip() == "ready":
                break
        else:
            return mocks.wait()  # the mocks said why on stderr, in their one line
        print(f"\ngateway: http://{settings.host}:{settings.port}/graphql  (GraphiQL in a browser)")
        print("try:     TOKEN=$(wardgate token --persona social-worker --mfa)")
        print("         wardgate children --kind on-plan --limit 1")
        return _run(argparse.Namespace(config=None, host=None, port=None, workers=None))
    finally:
        if mocks.poll() is None:
            mocks.send_signal(signal.SIGINT)
            mocks.wait(timeout=10)


def _policy(args: argparse.Namespace) -> int:
    return commands.main(args)


def _config(args: argparse.Namespace) -> int:
    """``wardgate config check``: every check, one line each; a problem anywhere is exit 2."""
    settings = command_settings(args.config)
    findings = check_deployment(settings)
    width = max(len(f.name) for f in findings)
    for f in findings:
        print(f"{'ok  ' if f.ok else 'skip' if f.skipped else 'FAIL'}  {f.name:<{width}}  {f.detail}")
    problems = [f for f in findings if not f.ok and not f.skipped]
    if len(problems) == 1:
        raise ConfigError(f"{problems[0].name}: {problems[0].detail}")
    if problems:
        raise ConfigError(f"{len(problems)} problems in the configuration (listed above)")
    print("configuration ok")
    return 0


def _audit(args: argparse.Namespace) -> int:
    settings = command_settings(args.config)
    named = "--file" if args.file else "audit_path"
    # every instance's chain under the configured audit path (or --file's)
    trail = AuditTrail.at(Path(args.file) if args.file else settings.audit_path)
    if args.audit_command == "verify":
        _readable_chains(trail, named)
        results = verify_trail(trail)
        for chain, _, message in results:
            print(f"{chain}: {message}")
        return 0 if all(ok for _, ok, _ in results) else 1
    if trail.chains():
        _readable_chains(trail, named)
    if args.audit_command == "who-searched":
        try:
            dob = dt.date.fromisoformat(args.dob)
        except ValueError:
            raise UsageError(f"--dob {args.dob!r} is not a date (YYYY-MM-DD)") from None
        if not settings.search_hmac_key:
            raise ConfigError("set WARDGATE_SEARCH_HMAC_KEY: searches are audited only as HMACs under that key")
        field = "searchDigestWithPostcode" if args.postcode else "searchDigest"
        digest = search_digest(settings.search_hmac_key, args.name, dob, args.postcode)
        records = trail.records(**{field: digest})
    else:
        records = [r for r in trail.records(childId=args.child_id) if r.get("type") != "alert"]
    for record in records:
        print(describe_access(record))
    if not records:
        print("no records" if trail.chains() else f"no records ({trail.pattern}: nothing audited there yet)")
    return 0


def _readable_chains(trail: AuditTrail, named: str) -> list[Path]:
    """Every chain there is, each readable: `verify` or a search over nothing must not pass for a whole trail."""
    chains = trail.chains()
    if not chains:
        hint = "" if named == "--file" else " (nothing audited yet, or audit_path / --file names another place)"
        raise UsageError(f"{named} {trail.pattern}: no audit trail there{hint}")
    for chain in chains:
        if not os.access(chain, os.R_OK):
            raise UsageError(f"{named}: the chain {chain} cannot be read by this user")
    return chains


def describe_access(record: dict[str, object]) -> str:
    """One line of `who-viewed` / `who-searched`: who, when, why, and what they got."""
    line = (
        f"{record.get('at')}  {record.get('type')}  {record.get('practitioner')} "
        f"({record.get('role')}, {record.get('agency')})  purpose={record.get('purpose')}"
    )
    if record.get("breakGlass"):
        line += f"  BREAK-GLASS: {record['breakGlass']}"
    returned = record.get("fieldsReturned")
    if isinstance(returned, list):
        line += f"  fields returned: {len(returned)}, withheld: {len(record.get('fieldsWithheld') or [])}"  # type: ignore[arg-type]
    if isinstance(record.get("resultIds"), list):
        line += f"  results: {len(record['resultIds'])}"  # type: ignore[arg-type]
    return line + f"  request {record.get('requestId')}"


def _quality(args: argparse.Namespace) -> int:
    settings = command_settings(args.config)
    url = args.metrics or f"http://{settings.operator_host}:{settings.operator_port}/metrics"
    for line in quality.report(quality.read(quality.fetch(url))):
        print(line)
    return 0


def parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="wardgate", description=__doc__)
    p.add_argument("--version", action="version", version=f"wardgate {package_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = "TOML settings file (default: $WARDGATE_CONFIG); see wardgate.example.toml"

    _plugin_commands(sub)
    sub.add_parser("personas", help="the development personas").set_defaults(func=_personas)

    t = sub.add_parser("token", help="a signed development token for a persona")
    t.add_argument("--persona", required=True, help="one of `wardgate personas`")
    t.add_argument("--mfa", action="store_true", help="as if the practitioner logged in with two factors")
    t.add_argument("--ttl", type=int_between(1, 86_400), default=3600, help="seconds the token is valid (3600)")
    t.set_defaults(func=_token)

    r = sub.add_parser("run", help="the gateway at http://127.0.0.1:8000/graphql")
    r.add_argument("--config", metavar="FILE", help=config_help)
    r.add_argument("--host", metavar="H", help="address to listen on (default 127.0.0.1; WARDGATE_HOST)")
    r.add_argument("--port", metavar="P", type=PORT, help="port to listen on (default 8000; WARDGATE_PORT)")
    r.add_argument(
        "--workers", metavar="N", type=int_between(1, 64), help="worker processes (default 1; WARDGATE_WORKERS)"
    )
    r.set_defaults(func=_run)

    d = sub.add_parser("demo", help="mock agencies and the gateway in one command")
    d.add_argument("--config", metavar="FILE", help=config_help)
    d.add_argument("--children", type=int_between(1), default=3000, help="size of the synthetic population (3000)")
    d.add_argument("--seed", type=int, default=1, help="seed of the synthetic population (1)")
    d.set_defaults(func=_demo)

    pol = sub.add_parser("policy", help="check, test and explain access policies")
    pol_sub = pol.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    pc = pol_sub.add_parser("check", help="load and validate the policy files")
    pt = pol_sub.add_parser("test", help="run the case tables (*_cases.yaml) against the engine")
    pt.add_argument("cases", nargs="*", help="case files (default: every *_cases.yaml under the policy directory)")
    pt.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    pe = pol_sub.add_parser("explain", help="the decision and reason for one persona, child and field")
    pe.add_argument("--persona", required=True, help="one of `wardgate personas`")
    pe.add_argument("--field", required=True, help="Type.field [@agency] [as label], e.g. Child.address")
    pe.add_argument("--purpose", required=True, choices=[p.value for p in Purpose])
    who = pe.add_mutually_exclusive_group(required=True)
    who.add_argument("--child", help="NHS number: facts are fetched live from the configured agencies")
    who.add_argument("--facts", help="JSON child facts instead, e.g. '{\"shielded\": true}'")
    pe.add_argument("--mfa", action="store_true", help="as if the practitioner logged in with two factors")
    pe.add_argument("--break-glass", help="the justification, as a request would give it")
    policy_parsers = [pol, pc, pt, pe]
    shared_option(policy_parsers, "--config", metavar="FILE", help=config_help)
    shared_option(policy_parsers, "--policy-dir", help="default: the configured policy_dir (policies/)")
    shared_option(policy_parsers, "--engine", choices=["embedded", "opa"], help="default: the configured engine")
    pol.set_defaults(func=_policy)

    a = sub.add_parser("audit", help="the audit trail: every instance's chain")
    a_sub = a.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    av = a_sub.add_parser("verify", help="check every hash chain")
    w = a_sub.add_parser("who-viewed", help="who looked at this child's record, when and why")
    w.add_argument("child_id")
    ws = a_sub.add_parser("who-searched", help="who searched for this name and date of birth (by keyed hash)")
    ws.add_argument("--name", required=True, help="as typed in the search, e.g. 'Amelia Hughes'")
    ws.add_argument("--dob", required=True, help="YYYY-MM-DD")
    ws.add_argument("--postcode", help="only searches that also gave this postcode")
    audit_parsers = [a, av, w, ws]
    shared_option(audit_parsers, "--config", metavar="FILE", help=config_help)
    shared_option(
        audit_parsers,
        "--file",
        help="a chain file, a directory of chains, or a pattern with {instance} (default: audit_path)",
    )
    a.set_defaults(func=_audit)

    q = sub.add_parser("quality", help="how each agency's records link to the spine (counts only)")
    q.add_argument("--config", metavar="FILE", help=config_help)
    q.add_argument(
        "--metrics", metavar="URL", help="a gateway's /metrics (default: this configuration's operator listener)"
    )
    q.set_defaults(func=_quality)

    c = sub.add_parser("config", help="the deployment's configuration")
    c_sub = c.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    cc = c_sub.add_parser("check", help="validate settings, connectors, schema, policies and case tables")
    shared_option([c, cc], "--config", metavar="FILE", help=config_help)
    c.set_defaults(func=_config)
    return p


def _plugin_commands(sub: Any) -> None:
    """Commands other installed packages add (``wardgate.commands`` entry points: the mock agencies')."""
    for entry in entry_points(group="wardgate.commands"):
        entry.load()(sub)


def main(argv: list[str] | None = None) -> int:
    """The ``wardgate`` command: every subcommand runs inside the one error boundary."""

    def command() -> int:
        args = parser().parse_args(argv)
        return int(args.func(args))

    return run_command(command)


if __name__ == "__main__":
    raise SystemExit(main())
