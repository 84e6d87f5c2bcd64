"""The ``wardgate`` command: run the gateway and the mock agencies, mint dev tokens, check policies, audit."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import tempfile
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from gateway.config import load_settings
from gateway.dev import PERSONAS
from gateway.dev.tokens import dev_token
from gateway.errors import ConfigError
from gateway.pipeline.audit import AuditTrail, verify_trail
from gateway.pipeline.search import search_digest
from gateway.server.app import create_app
from gateway.server.logs import logging_config
from gateway.server.policytools import commands
from gateway.types import Purpose


def _personas(args: argparse.Namespace) -> int:
    for p in PERSONAS:
        print(f"{p.name:<18} {p.practitioner_id}  role={p.role:<30} agency={p.agency:<14} {p.title}")
    return 0


def _token(args: argparse.Namespace) -> int:
    try:
        print(dev_token(args.persona, mfa=args.mfa, ttl_s=args.ttl))
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.config:
        os.environ["WARDGATE_CONFIG"] = args.config
    try:
        settings = load_settings(host=args.host, port=args.port, workers=args.workers)
    except Exception as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        create_app(settings)  # validate connectors, labels and keys before binding the port
    except ConfigError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
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
    # One app on two listeners: the public port, and the operator port where /metrics answers
    # (gateway.server.http.OperatorRoutes tells them apart by the port a request came in on).
    sockets = [config.bind_socket(), _listen(settings.operator_host, settings.operator_port)]
    if settings.workers > 1:
        Multiprocess(config, sockets=sockets).run()
    else:
        uvicorn.Server(config).run(sockets=sockets)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket the workers inherit (as uvicorn binds its own)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _demo(args: argparse.Namespace) -> int:
    os.environ["WARDGATE_MODE"] = "development"  # the demo asks for development explicitly: dev keys, personas
    mocks = subprocess.Popen(
        [sys.executable, "-m", "mocks", "mocks", "--children", str(args.children), "--seed", str(args.seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert mocks.stdout is not None
    for line in mocks.stdout:
        print(line, end="")
        if line.strip() == "ready":
            break
    else:
        return 1
    print("\ngateway: http://127.0.0.1:8000/graphql  (GraphiQL in a browser)")
    print("try:     TOKEN=$(wardgate token --persona social-worker --mfa)")
    print("         wardgate children --kind on-plan --limit 1")
    try:
        return _run(argparse.Namespace(config=None, host=None, port=None, workers=None))
    finally:
        mocks.send_signal(signal.SIGINT)
        mocks.wait(timeout=10)


def _policy(args: argparse.Namespace) -> int:
    return commands.main(args)


def _audit(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:  # every instance's chain under the configured audit path (or --file's)
        trail = AuditTrail.at(Path(args.file) if args.file else settings.audit_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.audit_command == "verify":
        results = verify_trail(trail)
        for chain, _, message in results:
            print(f"{chain}: {message}")
        if not results:
            print(f"{trail.pattern}: no audit trail yet")
        return 0 if all(ok for _, ok, _ in results) else 1
    if args.audit_command == "who-searched":
        try:
            dob = dt.date.fromisoformat(args.dob)
        except ValueError:
            print(f"--dob {args.dob!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
            return 2
        field = "searchDigestWithPostcode" if args.postcode else "searchDigest"
        digest = search_digest(settings.search_hmac_key or "", args.name, dob, args.postcode)
        records = trail.records(**{field: digest})
    else:
        records = [r for r in trail.records(childId=args.child_id) if r.get("type") != "alert"]
    for record in records:
        print(describe_access(record))
    if not records:
        print("no records")
    return 0


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wardgate", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    _plugin_commands(sub)
    sub.add_parser("personas", help="the development personas").set_defaults(func=_personas)

    t = sub.add_parser("token", help="a signed development token for a persona")
    t.add_argument("--persona", required=True)
    t.add_argument("--mfa", action="store_true", help="as if the practitioner logged in with two factors")
    t.add_argument("--ttl", type=int, default=3600)
    t.set_defaults(func=_token)

    r = sub.add_parser("run", help="the gateway at http://127.0.0.1:8000/graphql")
    r.add_argument("--config")
    r.add_argument("--host")
    r.add_argument("--port", type=int)
    r.add_argument("--workers", type=int)
    r.set_defaults(func=_run)

    d = sub.add_parser("demo", help="mock agencies and the gateway in one command")
    d.add_argument("--children", type=int, default=3000)
    d.add_argument("--seed", type=int, default=1)
    d.set_defaults(func=_demo)

    pol = sub.add_parser("policy", help="check, test and explain access policies")
    pol_sub = pol.add_subparsers(dest="policy_command", required=True)
    pol.add_argument("--policy-dir", help="default: the configured policy_dir (policies/)")
    pol.add_argument("--engine", choices=["embedded", "opa"], help="default: the configured policy_engine")
    pol_sub.add_parser("check", help="load and validate the policy files")
    pt = pol_sub.add_parser("test", help="run the case tables (*_cases.yaml) against the engine")
    pt.add_argument("cases", nargs="*", help="case files (default: every *_cases.yaml under the policy directory)")
    pt.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    pe = pol_sub.add_parser("explain", help="the decision and reason for one persona, child and field")
    pe.add_argument("--persona", required=True)
    pe.add_argument("--field", required=True, help="Type.field [@agency] [as label], e.g. Child.address")
    pe.add_argument("--purpose", required=True, choices=[p.value for p in Purpose])
    who = pe.add_mutually_exclusive_group(required=True)
    who.add_argument("--child", help="NHS number: facts are fetched live from the configured agencies")
    who.add_argument("--facts", help="JSON child facts instead, e.g. '{\"shielded\": true}'")
    pe.add_argument("--mfa", action="store_true", help="as if the practitioner logged in with two factors")
    pe.add_argument("--break-glass", help="the justification, as a request would give it")
    pol.set_defaults(func=_policy)

    a = sub.add_parser("audit", help="the audit trail: every instance's chain")
    a.add_argument("--file", help="a chain file, a directory of chains, or a pattern with {instance}")
    a_sub = a.add_subparsers(dest="audit_command", required=True)
    a_sub.add_parser("verify", help="check every hash chain")
    w = a_sub.add_parser("who-viewed", help="who looked at this child's record, when and why")
    w.add_argument("child_id")
    ws = a_sub.add_parser("who-searched", help="who searched for this name and date of birth (by keyed hash)")
    ws.add_argument("--name", required=True, help="as typed in the search, e.g. 'Amelia Hughes'")
    ws.add_argument("--dob", required=True, help="YYYY-MM-DD")
    ws.add_argument("--postcode", help="only searches that also gave this postcode")
    a.set_defaults(func=_audit)
    return p


def _plugin_commands(sub: Any) -> None:
    """Commands other installed packages add (``wardgate.commands`` entry points: the mock agencies')."""
    for entry in entry_points(group="wardgate.commands"):
        entry.load()(sub)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
