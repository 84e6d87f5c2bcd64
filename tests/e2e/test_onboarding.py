"""An extra REST/JSON agency joins with a connector file alone: no gateway code changes."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.dev.tokens import dev_token
from mocks.population import Population
from mocks.runner import urls
from support.processes import ROOT, free_port_block, start, stop

QUERY = (
    "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) {"
    " involvements { agency service role practitioner { name } } } }"
)


@pytest.fixture(scope="module")
def nursery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Population]]:
    """A new supplier: an early-years nursery system, keyed by NHS number, with its own field names."""
    pop = Population.generate(1500, 7)
    child = pop.children[3]

    async def places(request: Request) -> JSONResponse:
        if request.headers.get("x-nursery-key") != "nursery-secret":
            return JSONResponse({"error": "no key"}, 401)
        rows = [{"ref": "N-1", "setting": "Little Acorns Nursery", "keyworker": "Jo Bloggs"}]
        return JSONResponse({"placements": rows if request.query_params.get("nhs") == child.nhs_number else []})

    port = free_port_block(1)
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/placements", places)]), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    connectors = tmp_path_factory.mktemp("connectors")
    (connectors / "nursery.yaml").write_text(
        textwrap.dedent(f"""
        agency: nursery
        title: Early years nursery placements
        base_url: http://127.0.0.1:{port}
        credential: {{scheme: api-key, header: X-Nursery-Key, secret: nursery-secret}}
        lookups:
          - by: nhs_number
            path: /placements
            params: {{nhs: "{{nhs_number}}"}}
            records: placements
        record:
          id: ref
        involvements:
          - fields:
              service: setting
              role: {{const: nursery-keyworker}}
              practitioner:
                fields: {{name: keyworker}}
    """)
    )
    yield child.nhs_number, connectors, pop
    server.should_exit = True
    thread.join(timeout=5)


def test_a_connector_file_alone_adds_an_agency(nursery: tuple[str, Path, Population], tmp_path: Path) -> None:
    nhs, connectors, _ = nursery
    base = free_port_block(10)
    mocks = start(["mocks", "--children", "1500", "--seed", "7", "--base-port", str(base)], ready="ready")
    try:
        agencies = urls("127.0.0.1", base)
        port = free_port_block(1)
        env = {
            "WARDGATE_PORT": str(port),
            "WARDGATE_OPERATOR_PORT": str(free_port_block(1)),
            "WARDGATE_CONNECTORS": orjson.dumps([str(ROOT / "connectors"), str(connectors)]).decode(),
            "WARDGATE_AGENCY_URLS": orjson.dumps({k: v for k, v in agencies.items() if k != "directory"}).decode(),
            "WARDGATE_AUDIT_PATH": str(tmp_path / "audit.jsonl"),
            "WARDGATE_POLICY_WATCH": "false",
        }
        gateway = start(["run"], env=env, url=f"http://127.0.0.1:{port}/healthz")
        try:
            r = httpx.post(
                f"http://127.0.0.1:{port}/graphql",
                json={"query": QUERY, "variables": {"id": nhs}},
                headers={"Authorization": "Bearer " + dev_token("social-worker", mfa=True)},
                timeout=20,
            )
            involvements = r.json()["data"]["child"]["involvements"]
            assert {
                "agency": "nursery",
                "service": "Little Acorns Nursery",
                "role": "nursery-keyworker",
                "practitioner": {"name": "Jo Bloggs"},
            } in involvements
        finally:
            stop(gateway)
    finally:
        stop(mocks)
