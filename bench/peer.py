"""Wardgate against the best peer: The Guild's Hive Gateway, over the same mock agencies, one core each.

    python -m bench.peer                      # c = 1, 16, 64; 10 s per run
    python -m bench.peer --seconds 20 --rounds 3

Both gateways run at once, each pinned to core 0 (only the one being loaded is busy); the mock
agencies and wrk share core 1. Runs alternate (Wardgate, Hive, Wardgate, Hive, ...) at each concurrency
so both see the same machine; with ``--rounds`` > 1 the median of each side's rounds is used.

What each gateway does per request, for one child, agencies at zero added latency:
- Wardgate: the full child profile (``support/full_profile.graphql``, about 100 fields) with
  everything on: JWT check, limits, fan-out with linking (name-and-DOB searches and cross-references),
  a policy decision for every field, the audit record, notifications, metrics and logs.
- Hive: one root field per agency, every leaf field of each agency's record (from introspection), the
  identifiers given as variables; no linking, no field checks, no audit. Housing's API answers in XML,
  which Mesh's OpenAPI loader cannot read, so Hive calls seven agencies to Wardgate's eight.

The two query texts differ because the schemas do: Hive's is composed from each agency's OpenAPI
document, Wardgate's is the linked Child. Both are written to the results. Results go to
bench/results/peer.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import hive
from bench.gateway import (
    CHILDREN,
    QUERY,
    RESULTS,
    SEED,
    Stack,
    bodies,
    lua_script,
    machine,
    pinned,
    require_wrk,
    spawn,
    tree_cpu_seconds,
    wait_for,
    wrk,
)
from gateway.agencies.connectors import load_connectors
from gateway.dev.tokens import dev_token
from mocks.population import Population
from support.processes import free_port_block

ROOT = Path(__file__).resolve().parent.parent


def hive_bodies(query: str, count: int = 200) -> list[bytes]:
    pop = Population.generate(CHILDREN, SEED)
    children = [c for c in pop.children if not c.deceased][:count]
    return [
        orjson.dumps(
            {
                "query": query,
                "variables": {"nhs": c.nhs_number, "surname": c.family, "policeDob": c.dob.strftime("%d-%b-%Y")},
            }
        )
        for c in children
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--out", type=Path, default=RESULTS / "peer.json")
    args = ap.parse_args()
    require_wrk()
    hive.install()
    workdir = Path(tempfile.mkdtemp(prefix="wardgate-peer-"))
    token = dev_token("social-worker", mfa=True, ttl_s=3600)
    stack = Stack(0, workdir)
    hive_proc = None
    try:
        supergraph = hive.compose(
            stack.agencies,
            load_connectors([ROOT / "connectors"], spine="health", development=True),
            hive.HIVE / "build",
        )
        hive_port = free_port_block(1)
        hive_proc = spawn(
            pinned("0", hive.gateway_argv(supergraph, hive_port)), {"NODE_ENV": "production"}, workdir / "hive.log"
        )
        hive_url = f"http://127.0.0.1:{hive_port}/graphql"
        wait_for(f"http://127.0.0.1:{hive_port}/healthcheck", hive_proc)
        hive_query = hive.every_field_query(hive_url)
        h_bodies = hive_bodies(hive_query)
        check = httpx.post(
            hive_url, content=h_bodies[0], headers={"content-type": "application/json"}, timeout=30
        ).json()
        if check.get("errors") or not all(check["data"].values()):
            raise SystemExit(f"Hive did not answer the query: {json.dumps(check)[:2000]}")
        scripts = {
            "wardgate": (
                stack.url + "/graphql",
                lua_script(bodies(), token, workdir / "wardgate.lua"),
                stack.gateway.pid,
            ),
            "hive": (hive_url, lua_script(h_bodies, token, workdir / "hive.lua"), hive_proc.pid),
        }
        for url, script, _ in scripts.values():
            wrk(url, script, 4, 3)  # warm-up: connections, caches, JIT
        results: dict[str, Any] = {
            "machine": machine(),
            "placement": "both gateways pinned to core 0 (one loaded at a time, alternately); mocks and wrk on core 1",
            "hive": "@graphql-hive/gateway (Node " + _node_version() + "), supergraph from mesh-compose over OpenAPI",
            "seconds_per_run": args.seconds,
            "rounds": args.rounds,
            "queries": {"wardgate": QUERY, "hive": hive_query},
            "runs": {},
        }
        print(
            f"{'c':>4} {'wardgate req/s':>15} {'hive req/s':>11} {'ratio':>6} {'wardgate p50':>13} {'hive p50':>9}"
            f" {'wardgate CPU/req':>17} {'hive CPU/req':>13}"
        )
        for c in [int(x) for x in args.concurrency.split(",")]:
            rounds: dict[str, list[dict[str, Any]]] = {"wardgate": [], "hive": []}
            for _ in range(args.rounds):
                for name, (url, script, pid) in scripts.items():
                    before = tree_cpu_seconds(pid)
                    r = wrk(url, script, c, args.seconds)
                    r["cpu_ms_per_request"] = round((tree_cpu_seconds(pid) - before) / max(r["requests"], 1) * 1000, 3)
                    rounds[name].append(r)
            row = {name: _median(rs) for name, rs in rounds.items()}
            row["ratio_rps"] = round(row["wardgate"]["rps"] / row["hive"]["rps"], 2)
            results["runs"][f"c{c}"] = {**row, "all_rounds": rounds}
            w, h = row["wardgate"], row["hive"]
            print(
                f"{c:>4} {w['rps']:>15.1f} {h['rps']:>11.1f} {row['ratio_rps']:>5.2f}x {w['p50_ms']:>10.2f} ms"
                f" {h['p50_ms']:>6.2f} ms {w['cpu_ms_per_request']:>14.2f} ms {h['cpu_ms_per_request']:>10.2f} ms"
            )
    finally:
        if hive_proc is not None:
            hive_proc.terminate()
            hive_proc.wait(10)
        stack.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


def _median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "non_2xx")
    return {k: round(statistics.median(r[k] for r in rounds), 3) for k in keys}


def _node_version() -> str:
    import subprocess

    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
