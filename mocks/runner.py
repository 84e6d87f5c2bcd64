"""Serve every mock agency on loopback, each on its own port, in one process.

specs = agency_specs()
asyncio.run(serve(Population.generate(3000, seed=1), host="127.0.0.1", base_port=9100))
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from gateway.errors import UsageError
from gateway.server.ports import listen
from mocks import directory, education, health, housing, police, smallservices, socialcare
from mocks.agency import AgencyApp, Credential
from mocks.faults import Faults
from mocks.population import Population

Builder = Callable[..., AgencyApp]


@dataclass(frozen=True, slots=True)
class AgencySpec:
    name: str
    port_offset: int
    build: Builder
    credential: Credential


def agency_specs() -> list[AgencySpec]:
    """Every mock agency, in port order from the base port."""
    return [
        AgencySpec("directory", 0, directory.build, directory.CREDENTIAL),
        AgencySpec("health", 1, health.build, health.CREDENTIAL),
        AgencySpec("education", 2, education.build, education.CREDENTIAL),
        AgencySpec("social-care", 3, socialcare.build, socialcare.CREDENTIAL),
        AgencySpec("police", 4, police.build, police.CREDENTIAL),
        AgencySpec("housing", 5, housing.build, housing.CREDENTIAL),
        AgencySpec("youth-justice", 6, smallservices.build_youth_justice, smallservices.YJ_CREDENTIAL),
        AgencySpec("camhs", 7, smallservices.build_camhs, smallservices.CAMHS_CREDENTIAL),
        AgencySpec("sexual-health", 8, smallservices.build_sexual_health, smallservices.SH_CREDENTIAL),
    ]


def build_all(pop: Population, faults: dict[str, Faults] | None = None) -> dict[str, AgencyApp]:
    faults = faults or {}
    return {s.name: s.build(pop, faults=faults.get(s.name, Faults())) for s in agency_specs()}


def urls(host: str, base_port: int) -> dict[str, str]:
    return {s.name: f"http://{host}:{base_port + s.port_offset}" for s in agency_specs()}


async def serve(
    pop: Population,
    *,
    host: str = "127.0.0.1",
    base_port: int = 9100,
    faults: dict[str, Faults] | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Run until cancelled; prints one ``agency url`` line per agency, then ``ready``.

    Every port is bound before any server starts, so a port in use is one :class:`UsageError` naming the
    agency and the port (and nothing is left half started).
    """
    apps = build_all(pop, faults)
    sockets: list[socket.socket] = []
    try:
        for spec in agency_specs():
            sockets.append(listen(host, base_port + spec.port_offset, f"mock agency {spec.name}"))
    except UsageError:
        for sock in sockets:
            sock.close()
        raise
    servers = []
    for spec in agency_specs():
        config = uvicorn.Config(
            apps[spec.name],
            host=host,
            port=base_port + spec.port_offset,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=75,
            backlog=4096,
        )
        servers.append(uvicorn.Server(config))
    tasks = [asyncio.create_task(s.serve(sockets=[sock])) for s, sock in zip(servers, sockets, strict=True)]
    try:
        while not all(s.started for s in servers):
            if failed := next((t for t in tasks if t.done()), None):
                failed.result()  # its exception, raised here rather than left unretrieved
                raise RuntimeError("a mock agency stopped while starting")
            await asyncio.sleep(0.02)
        for name, url in urls(host, base_port).items():
            announce(f"{name:<14} {url}")
        announce("ready")
        sys.stdout.flush()
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
