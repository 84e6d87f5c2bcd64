"""The end-to-end stack: the real mock agencies and the real gateway as uvicorn servers on loopback, and how
tests talk to them (GraphQL as a persona, the agencies' fault and call-log admin endpoints)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.dev.tokens import dev_token
from gateway.errors import CODES
from mocks.population import Child, Population
from mocks.twins import add_twins
from support.processes import free_port_block, start

FULL = (Path(__file__).with_name("full_profile.graphql")).read_text()
"""A full child profile: every field of every agency."""

CHILDREN, SEED = 1500, 7


def population() -> Population:
    """The end-to-end suite's population, twins included (the mocks are started with ``--twins``)."""
    pop = Population.generate(CHILDREN, SEED)
    add_twins(pop)
    return pop


ADMIN = {"x-admin-key": "mock-admin"}


@dataclass
class Stack:
    gateway: str
    agencies: dict[str, str]
    pop: Population
    audit: Path
    workdir: Path
    gateway_log: Path | None = None
    operator: str = ""  # the gateway's operator listener (/metrics)

    def query(self, query: str, persona: str = "social-worker", *, mfa: bool = True, **variables: object) -> dict:
        token = dev_token(persona, mfa=mfa)
        r = httpx.post(
            self.gateway + "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return orjson.loads(r.content)

    def faults(self, agency: str, spec: dict) -> None:
        r = httpx.put(self.agencies[agency] + "/__admin/faults", headers=ADMIN, json=spec, timeout=5)
        assert r.status_code == 200, r.text

    def calls(self, agency: str) -> list[dict]:
        return httpx.get(self.agencies[agency] + "/__admin/calls", headers=ADMIN, timeout=5).json()["calls"]

    def clear_calls(self) -> None:
        for url in self.agencies.values():
            httpx.delete(url + "/__admin/calls", headers=ADMIN, timeout=5)


def start_gateway(
    port: int, agencies: dict[str, str], audit: Path, workdir: Path, **extra: str
) -> subprocess.Popen[str]:
    """A gateway over these agencies; ``extra`` are more WARDGATE_* settings (without the prefix).

    Its operator listener gets a free port of its own: ``proc.operator`` is its URL (``/metrics``).
    """
    operator_port = free_port_block(1)
    env = {
        "WARDGATE_PORT": str(port),
        "WARDGATE_OPERATOR_PORT": str(operator_port),
        "WARDGATE_AGENCY_URLS": orjson.dumps({k: v for k, v in agencies.items() if k != "directory"}).decode(),
        "WARDGATE_DIRECTORY_URL": agencies["directory"],
        "WARDGATE_AUDIT_PATH": str(audit),
        "WARDGATE_MODE": "development",  # development keys, personas and agency secrets
        "WARDGATE_LINKAGE_CHILDREN": str(CHILDREN),  # the area the mocks serve: record linkage's prior
        "WARDGATE_REQUEST_DEADLINE_MS": "1500",
        "WARDGATE_CHILD_RATE": "100000/minute",  # the suite is a few practitioners asking many times
        # One request now makes every lookup an agency's connector lists; a test that breaks an agency on
        # purpose must not leave its circuit open for the next (breakers are tested on their own gateways).
        "WARDGATE_BREAKER_THRESHOLD": "100",
        "TMPDIR": str(workdir),
        **{f"WARDGATE_{k.upper()}": v for k, v in extra.items()},
    }
    proc = start(["run"], env=env, url=f"http://127.0.0.1:{port}/healthz")
    proc.operator = f"http://127.0.0.1:{env['WARDGATE_OPERATOR_PORT']}"  # type: ignore[attr-defined]
    return proc


def codes(out: dict[str, Any]) -> list[str]:
    """The ``extensions.code`` of every error in a GraphQL response, each checked to be a documented code
    (:data:`gateway.errors.CODES`): every end-to-end test that reads codes checks that nothing else escapes."""
    found = [e["extensions"]["code"] for e in out.get("errors", [])]
    undocumented = sorted(set(found) - set(CODES))
    assert not undocumented, f"codes not in gateway.errors.CODES: {undocumented}"
    return found


def plain(s: Stack, kind: str = "ordinary") -> Child:
    """A child of ``kind`` with none of the data-quality problems that would blur a test about something else."""
    return next(c for c in s.pop.of_kind(kind) if not c.kinds & {"weak-match", "conflicting", "duplicate"})
