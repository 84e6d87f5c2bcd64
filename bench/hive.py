"""The peer: The Guild's Hive Gateway (GraphQL Mesh) composed over the mock agencies' own OpenAPI documents.

Used by ``bench/peer.py``. The Node packages are installed into ``bench/hive/node_modules`` from
``bench/hive/package.json`` on first use (``npm install``; nothing fetched is committed). Composition
follows Mesh's own route: one OpenAPI subgraph per agency (``@omnigraph/openapi``), composed by
``mesh-compose`` into a supergraph served by ``hive-gateway supergraph``. Each subgraph calls its
agency with the same credential and the same who/why headers Wardgate sends.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx

from gateway.agencies.connectors import Connector

HIVE = Path(__file__).with_name("hive")
BIN = HIVE / "node_modules" / ".bin"
CALLER = {"X-Practitioner-Id": "P000001", "X-Purpose": "safeguarding", "X-Request-Id": "bench-hive"}


def subgraph_name(agency: str) -> str:
    return "".join(part.capitalize() for part in agency.split("-"))


def install() -> None:
    if (BIN / "hive-gateway").exists() and (BIN / "mesh-compose").exists():
        return
    if not shutil.which("npm"):
        raise SystemExit("the Hive Gateway peer needs Node.js and npm (Debian: apt-get install nodejs npm)")
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HIVE, check=True)


def compose(agencies: dict[str, str], connectors: dict[str, Connector], build: Path) -> Path:
    """Write each agency's OpenAPI document and a Mesh compose config; compose; the supergraph's path."""
    build = build.resolve()
    build.mkdir(parents=True, exist_ok=True)
    subgraphs = []
    for agency, url in sorted(agencies.items()):
        if agency not in connectors:
            continue
        doc = httpx.get(url + "/openapi.json", timeout=10).json()
        doc["servers"] = [{"url": url}]
        source = build / f"{agency}.openapi.json"
        source.write_text(json.dumps(doc))
        headers = {**connectors[agency].headers, **CALLER}
        subgraphs.append(
            f"""    {{
      sourceHandler: loadOpenAPISubgraph({json.dumps(subgraph_name(agency))}, {{
        source: {json.dumps(str(source))},
        endpoint: {json.dumps(url)},
        operationHeaders: {json.dumps(headers)},
      }}),
      transforms: [createPrefixTransform({{ includeRootOperations: true }})],
    }}"""
        )
    config = build / "mesh.config.ts"
    config.write_text(
        "import { createPrefixTransform, defineConfig } from '@graphql-mesh/compose-cli';\n"
        "import { loadOpenAPISubgraph } from '@omnigraph/openapi';\n\n"
        "export const composeConfig = defineConfig({\n  subgraphs: [\n" + ",\n".join(subgraphs) + "\n  ],\n});\n"
    )
    out = build / "supergraph.graphql"
    subprocess.run(
        [str(BIN / "mesh-compose"), "-c", config.name, "-o", out.name],
        cwd=build,
        check=True,
        capture_output=True,
    )
    return out


def root_fields(supergraph: Path) -> list[str]:
    """The Query fields the composed schema offers (for the bench's query and for checking it)."""
    text = supergraph.read_text()
    body = re.search(r"type Query[^{]*\{(.*?)\n\}", text, re.S)
    return re.findall(r"^\s+(\w+)\(", body.group(1), re.M) if body else []


def gateway_argv(supergraph: Path, port: int) -> list[str]:
    return [
        str(BIN / "hive-gateway"),
        "supergraph",
        str(supergraph),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--fork",
        "1",
    ]


INTROSPECT = """{ __schema { queryType { name } types { name kind fields { name
  args { name type { kind ofType { kind } } }
  type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }"""

# Each agency's record for one child, by the identifiers each agency's API takes (as Wardgate's connectors
# call them): health, education, social care, youth justice, CAMHS and sexual health by NHS number;
# police by surname and date of birth, in its own date format. Housing is left out: its API answers in
# XML, which Mesh's OpenAPI loader cannot read ("Unexpected response"), so Hive makes one call fewer.
ROOTS = (
    ("Health_readPatient", "nhs: $nhs"),
    ("Education_searchPupils", "nhsNumber: $nhs"),
    ("SocialCare_searchPersons", "nhs_number: $nhs"),
    ("Police_searchPersons", "surname: $surname, dob: $policeDob"),
    ("YouthJustice_searchYoungPeople", "nhs: $nhs"),
    ("Camhs_listReferrals", "nhs_number: $nhs"),
    ("SexualHealth_findClients", "nhsNumber: $nhs"),
)


def _named(t: dict) -> str:
    while t.get("ofType"):
        t = t["ofType"]
    return str(t["name"])


def every_field_query(gateway_url: str) -> str:
    """One query asking every agency, selecting every leaf field its composed type offers."""
    schema = httpx.post(gateway_url, json={"query": INTROSPECT}, timeout=30).json()["data"]["__schema"]
    types = {t["name"]: t for t in schema["types"]}
    query_fields = {f["name"]: f for f in types[schema["queryType"]["name"]]["fields"]}

    def select(type_name: str, depth: int) -> str:
        t = types[type_name]
        if t["kind"] in ("SCALAR", "ENUM"):
            return ""
        if t["kind"] in ("UNION", "INTERFACE") or depth > 4:
            return "{ __typename }"
        parts = []
        for f in t["fields"] or []:
            if any(a["type"]["kind"] == "NON_NULL" for a in f["args"]):
                continue
            inner = select(_named(f["type"]), depth + 1)
            parts.append(f"{f['name']} {inner}".strip())
        return "{ " + " ".join(parts) + " }" if parts else "{ __typename }"

    body = []
    for name, args in ROOTS:
        if name in query_fields:
            body.append(f"  {name}({args}) {select(_named(query_fields[name]['type']), 1)}")
    return "query Child($nhs: String!, $surname: String!, $policeDob: String!) {\n" + "\n".join(body) + "\n}"
