"""The end-to-end suite: the real mock agencies and the real gateway as uvicorn servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mocks.runner import urls
from support.processes import free_port_block, redis_server, start, stop
from support.stack import CHILDREN, SEED, Stack, population, start_gateway


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("e2e")
    base = free_port_block(10)
    mocks = start(
        ["mocks", "--children", str(CHILDREN), "--seed", str(SEED), "--base-port", str(base), "--twins"], ready="ready"
    )
    agencies = urls("127.0.0.1", base)
    gw_port = free_port_block(1)
    audit = workdir / "audit.jsonl"
    try:
        gateway = start_gateway(gw_port, agencies, audit, workdir, log_level="debug")
    except BaseException:
        stop(mocks)  # a gateway that did not start must not leave the mocks running
        raise
    try:
        yield Stack(
            f"http://127.0.0.1:{gw_port}",
            agencies,
            population(),
            audit,
            workdir,
            Path(gateway.log.name),  # type: ignore[attr-defined]
            gateway.operator,  # type: ignore[attr-defined]
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
