"""The mock agencies' commands, added to ``wardgate`` through the ``wardgate.commands`` entry point:

    wardgate mocks [--children N] [--seed S] [--base-port P] [--faults FILE]
    wardgate children [--kind KIND] [--limit N] [--children N] [--seed S]

``python -m mocks`` runs the same commands without the gateway's CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import time
from pathlib import Path
from typing import Any

from gateway.errors import UsageError
from gateway.server.boundary import PORT, CommandParser, int_between, run_command
from mocks.faults import load_faults
from mocks.population import KINDS, Population
from mocks.runner import agency_specs, serve
from mocks.twins import add_twins


def _mocks(args: argparse.Namespace) -> int:
    names = [spec.name for spec in agency_specs()]
    if args.base_port + len(names) - 1 > 65_535:
        raise UsageError(f"--base-port {args.base_port}: the {len(names)} agencies need ports up to 65535")
    faults = load_faults(Path(args.faults), names) if args.faults else {}
    started = time.perf_counter()
    pop = Population.generate(children=args.children, seed=args.seed)
    if args.twins:
        add_twins(pop)
    print(
        f"population: {args.children} children, seed {args.seed}, built in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    try:
        asyncio.run(serve(pop, host=args.host, base_port=args.base_port, faults=faults))
    except KeyboardInterrupt:
        pass
    return 0


def _children(args: argparse.Namespace) -> int:
    if args.kind and args.kind not in KINDS:
        close = difflib.get_close_matches(args.kind, KINDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(f"unknown kind {args.kind!r}; {hint}kinds: {', '.join(KINDS)}")
    pop = Population.generate(children=args.children, seed=args.seed)
    if args.twins:
        add_twins(pop)
    shown = 0
    for child in pop.children:
        if shown >= args.limit:
            break
        if args.kind and args.kind not in child.kinds:
            continue
        print(json.dumps(child.facts()))
        shown += 1
    if not shown:
        # Nothing on stdout would leave `... | python -c 'json.load(sys.stdin)'` failing with its own traceback.
        raise UsageError(f"no child of kind {args.kind!r} among {args.children} children (seed {args.seed})")
    return 0


def register(sub: Any) -> None:
    """Add ``mocks`` and ``children`` to a command's subparsers (argparse's ``add_subparsers()``)."""
    m = sub.add_parser("mocks", help="start every mock agency on loopback and print their URLs")
    m.add_argument("--children", type=int_between(1), default=3000, help="size of the synthetic population (3000)")
    m.add_argument("--seed", type=int, default=1, help="seed of the synthetic population (1)")
    m.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    m.add_argument("--base-port", type=PORT, default=9100, help="the first agency's port; the rest follow (9100)")
    m.add_argument("--faults", metavar="FILE", help='JSON file: {"agency": {faults}} applied at start-up')
    m.add_argument("--twins", action="store_true", help="add the twin pairs the non-interference tests compare")
    m.set_defaults(func=_mocks)

    c = sub.add_parser("children", help="sample children of the synthetic population, as JSON lines")
    c.add_argument("--kind", help=f"one of: {', '.join(KINDS)}")
    c.add_argument("--limit", type=int_between(1), default=5, help="at most this many children (5)")
    c.add_argument("--children", type=int_between(1), default=3000, help="size of the population (3000), as the mocks")
    c.add_argument("--seed", type=int, default=1, help="seed of the population (1), as the mocks")
    c.add_argument("--twins", action="store_true", help="include the twin pairs (kind: twin)")
    c.set_defaults(func=_children)


def main(argv: list[str] | None = None) -> int:
    """``python -m mocks``: the same commands, inside the same error boundary as ``wardgate``."""

    def command() -> int:
        parser = CommandParser(prog="python -m mocks", description=__doc__)
        register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
        args = parser.parse_args(argv)
        return int(args.func(args))

    return run_command(command, prog="python -m mocks")
