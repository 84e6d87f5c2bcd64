"""The GraphQL-over-HTTP audit published with the reference implementation (npm ``graphql-http``, its
``auditServer``), run against the real gateway: every MUST and every SHOULD passes.

The npm package is installed from ``http-audit/package-lock.json`` into ``http-audit/node_modules`` the first
time (``make test`` installs Node.js and npm from Debian when they are missing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from support.stack import Stack

AUDIT = Path(__file__).with_name("http-audit")


@pytest.fixture(scope="session")
def node() -> str:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise RuntimeError("the HTTP audit needs Node.js and npm: run `make test` (it installs them) or apt-get them")
    installed = AUDIT / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (AUDIT / "package-lock.json").stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=AUDIT, check=True, timeout=300)
    return node


def test_the_graphql_over_http_audit_passes_without_warnings(stack: Stack, node: str) -> None:
    out = subprocess.run(
        [node, "audit.mjs", f"{stack.gateway}/graphql"], cwd=AUDIT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(results) > 50  # the audit as published: about sixty checks
    not_ok = [f"{r['status']}: {r['name']}: {r['reason']}" for r in results if r["status"] != "ok"]
    assert not_ok == []
