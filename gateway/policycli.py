"""``wardgate policy``: what security teams run on the policy files before they reach a gateway."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from gateway.config import load_settings
from gateway.engines import EmbeddedEngine, OpaEngine, PolicyBundle, PolicyEngine
from gateway.errors import ConfigError


def _engine(args: argparse.Namespace) -> PolicyEngine:
    settings = load_settings()
    kind = args.engine or settings.policy_engine
    if kind == "opa":
        return OpaEngine(url=settings.opa_url, timeout=settings.opa_timeout_ms / 1000)
    return EmbeddedEngine()


async def _check(args: argparse.Namespace) -> int:
    root = Path(args.policy_dir) if args.policy_dir else load_settings().policy_dir
    engine = _engine(args)
    try:
        bundle = PolicyBundle.load(root)
        await engine.load(bundle)
    except ConfigError as exc:
        print(f"policy check failed: {exc}")
        return 1
    finally:
        await engine.aclose()
    print(f"policy ok: {len(bundle.modules)} module(s), revision {bundle.revision}, engine {type(engine).__name__}")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.policy_command == "check":
        return asyncio.run(_check(args))
    raise SystemExit(f"unknown policy command {args.policy_command!r}")
