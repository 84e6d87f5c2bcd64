"""The mock agencies' commands, added to ``wardgate`` through the ``wardgate.commands`` entry point:

    wardgate mocks [--children N] [--seed S] [--base-port P] [--faults FILE]
    wardgate children [--kind KIND] [--limit N] [--children N] [--seed S]

``python -m mocks`` runs the same commands without the gateway's CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from mocks.faults import Faults
from mocks.population import KINDS, Population
from mocks.runner import serve
from mocks.twins import add_twins


def _mocks(args: argparse.Namespace) -> int:
    faults: dict[str, Faults] = {}
    if args.faults:
        raw = json.loads(Path(args.faults).read_text())
        faults = {name: Faults.model_validate(spec) for name, spec in raw.items()}
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
        print(f"unknown kind {args.kind!r}; kinds: {', '.join(KINDS)}", file=sys.stderr)
        return 2
    pop = Population.generate(children=args.children, seed=args.seed)
    if args.twins:
        add_twins(pop)
    shown = 0
    for child in pop.children:
        if args.kind and args.kind not in child.kinds:
            continue
        print(json.dumps(child.facts()))
        shown += 1
        if shown >= args.limit:
            break
    return 0


def register(sub: Any) -> None:
    """Add ``mocks`` and ``children`` to a command's subparsers (argparse's ``add_subparsers()``)."""
    m = sub.add_parser("mocks", help="start every mock agency on loopback and print their URLs")
    m.add_argument("--children", type=int, default=3000)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--base-port", type=int, default=9100)
    m.add_argument("--faults", help="JSON file: {agency: faults} applied at start-up")
    m.add_argument("--twins", action="store_true", help="add the twin pairs the non-interference tests compare")
    m.set_defaults(func=_mocks)

    c = sub.add_parser("children", help="sample children of the synthetic population, as JSON lines")
    c.add_argument("--kind")
    c.add_argument("--limit", type=int, default=5)
    c.add_argument("--children", type=int, default=3000)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--twins", action="store_true", help="include the twin pairs (kind: twin)")
    c.set_defaults(func=_children)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mocks", description=__doc__)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
