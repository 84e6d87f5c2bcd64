"""The end-to-end suite: the real mock agencies and the real gateway as uvicorn servers on loopback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.dev.personas import dev_token
from mocks.population import Population
from mocks.runner import urls
from tests.helpers import free_port_block, redis_server, start, stop

CHILDREN, SEED = 1500, 7
ADMIN = {"x-admin-key": "mock-admin"}


@dataclass
class Stack:
    gateway: str
    agencies: dict[str, str]
    pop: Population
    audit: Path
    workdir: Path
    gateway_log: Path | None = None

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
    """A gateway over these agencies; ``extra`` are more WARDGATE_* settings (without the prefix)."""
    env = {
        "WARDGATE_PORT": str(port),
        "WARDGATE_AGENCY_URLS": orjson.dumps({k: v for k, v in agencies.items() if k != "directory"}).decode(),
        "WARDGATE_DIRECTORY_URL": agencies["directory"],
        "WARDGATE_AUDIT_PATH": str(audit),
        "WARDGATE_REQUEST_DEADLINE_MS": "1500",
        "TMPDIR": str(workdir),
        **{f"WARDGATE_{k.upper()}": v for k, v in extra.items()},
    }
    return start(["run"], env=env, url=f"http://127.0.0.1:{port}/healthz")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("e2e")
    base = free_port_block(10)
    mocks = start(["mocks", "--children", str(CHILDREN), "--seed", str(SEED), "--base-port", str(base)], ready="ready")
    agencies = urls("127.0.0.1", base)
    gw_port = free_port_block(1)
    audit = workdir / "audit.jsonl"
    gateway = start_gateway(gw_port, agencies, audit, workdir, log_level="debug")
    try:
        yield Stack(
            f"http://127.0.0.1:{gw_port}",
            agencies,
            Population.generate(CHILDREN, SEED),
            audit,
            workdir,
            Path(gateway.log.name),  # type: ignore[attr-defined]
        )
    finally:
        stop(gateway)
        stop(mocks)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis server for the shared directory cache, started for this test session."""
    port = free_port_block(1)
    server = redis_server(port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(server)


@pytest.fixture(autouse=True)
def _healthy_agencies(stack: Stack) -> Iterator[None]:
    yield
    for agency in stack.agencies:
        stack.faults(agency, {})


_ = os
