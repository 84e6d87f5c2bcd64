"""How the gateway's cost grows: with the number of agencies, with list sizes, with workers, and with a
search over a large population.

    python -m bench.growth                  # every series; 8 s per point
    python -m bench.growth --series agencies,lists --seconds 15

Series (agencies at zero added latency; wrk at concurrency 16 unless said; the gateway pinned to core 0,
mocks and wrk on core 1):
- ``agencies``: 1, 2, 4, 8 and 16 agencies behind the gateway (a connector directory with that many),
  full child profile, social worker. 1 = health; 2 = + CAMHS; 4 = + sexual health, youth justice;
  8 = every mock agency; 16 = those eight and eight more CAMHS-shaped agencies (``bench.extra``), each
  adding an involvement to the child.
- ``lists``: involvements per child 1, 10, 100: CAMHS answers that many referrals, each a
  ``mentalHealth.referrals`` entry and an involvement; read by a CAMHS clinician, who may see them.
- ``workers``: 1 and 2 uvicorn workers (the second shares core 1 with the mocks and wrk: a 2-core box).
- ``search``: ``searchChildren`` by family name and date of birth over 100,000 children, c = 1 and 16.

Results go to bench/results/growth.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.gateway import (
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
    wait_for,
    wrk,
)
from gateway.dev.tokens import dev_token
from mocks.population import Population
from support.processes import free_port_block

ROOT = Path(__file__).resolve().parent.parent
SUBSETS = {
    1: ["health"],
    2: ["health", "camhs"],
    4: ["health", "camhs", "sexual-health", "youth-justice"],
    8: ["health", "camhs", "sexual-health", "youth-justice", "education", "social-care", "police", "housing"],
}
SEARCH = """query($n: String!, $d: Date) { searchChildren(name: $n, dateOfBirth: $d, purpose: SAFEGUARDING) {
  id name { given family } dateOfBirth matchGrade } }"""


def extra_connector(agency: str, url: str) -> str:
    """A CAMHS-shaped agency that adds one involvement per referral (and nothing else) to the child."""
    return f"""agency: {agency}
title: Extra service {agency} (benchmark)
base_url: {url}
credential: {{scheme: api-key, header: X-API-Key, secret: dev-camhs-key}}
timeout_ms: 1500
presence_label: involvement
lookups:
  - by: nhs_number
    path: /camhs/v1/referrals
    params: {{nhs_number: "{{nhs_number}}"}}
    records: referrals
record:
  id: referral_id
  nhs_number: nhs_number
involvements:
  - when: clinician
    label: involvement
    fields:
      service: {{const: "{agency}"}}
      role: {{const: key-worker}}
      status: {{path: referral_status, lower: true}}
      since: {{path: opened_date, date: "%m/%d/%Y"}}
      practitioner:
        path: clinician
        fields: {{id: clinician_id, name: full_name, team: team, phone: phone}}
"""


def connector_dir(workdir: Path, agencies: list[str], extras: dict[str, str]) -> Path:
    out = workdir / f"connectors-{len(agencies) + len(extras)}"
    out.mkdir(exist_ok=True)
    for agency in agencies:
        shutil.copy(ROOT / "connectors" / f"{agency}.yaml", out / f"{agency}.yaml")
    for agency, url in extras.items():
        (out / f"{agency}.yaml").write_text(extra_connector(agency, url))
    return out


class Extras:
    """``copies`` CAMHS-shaped agencies answering ``referrals`` referrals per child, on core 1."""

    def __init__(self, copies: int, referrals: int, workdir: Path) -> None:
        self.base = free_port_block(copies)
        argv = [sys.executable, "-m", "bench.extra", "--copies", str(copies), "--referrals", str(referrals)]
        argv += ["--base-port", str(self.base)]
        self.proc = spawn(pinned("1", argv), {}, workdir / f"extra-{copies}-{referrals}.log")
        self.urls = [f"http://127.0.0.1:{self.base + i}" for i in range(copies)]
        for url in self.urls:
            wait_for(url + "/health", self.proc)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def measure(stack: Stack, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    wrk(stack.url + "/graphql", script, 4, 2)  # warm
    before = stack.cpu_seconds()
    r = wrk(stack.url + "/graphql", script, connections, seconds)
    r["cpu_ms_per_request"] = round((stack.cpu_seconds() - before) / max(r["requests"], 1) * 1000, 3)
    return r


def line(label: str, r: dict[str, Any]) -> None:
    print(
        f"{label:<28} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
        f"  CPU {r['cpu_ms_per_request']:6.2f} ms/req  failed {r['failed']}"
    )


def agencies_series(workdir: Path, seconds: int, token: str) -> dict[str, Any]:
    script = lua_script(bodies(), token, workdir / "agencies.lua")
    out: dict[str, Any] = {}
    for n in (1, 2, 4, 8, 16):
        extras = Extras(8, 1, workdir) if n == 16 else None
        names = SUBSETS[min(n, 8)]
        extra_urls = {f"extra-{i + 1}": u for i, u in enumerate(extras.urls)} if extras else {}
        stack = Stack(0, workdir, connectors=connector_dir(workdir, names, extra_urls), overrides=extra_urls)
        try:
            out[str(n)] = r = measure(stack, script, 16, seconds)
            line(f"agencies {n:>2}", r)
        finally:
            stack.close()
            if extras:
                extras.close()
    return out


def lists_series(workdir: Path, seconds: int) -> dict[str, Any]:
    token = dev_token("camhs-clinician", mfa=True, ttl_s=3600)
    script = lua_script(bodies(), token, workdir / "lists.lua")
    out: dict[str, Any] = {}
    for k in (1, 10, 100):
        extras = Extras(1, k, workdir)
        stack = Stack(0, workdir, overrides={"camhs": extras.urls[0]})
        try:
            out[str(k)] = r = measure(stack, script, 16, seconds)
            line(f"involvements per child {k:>3}", r)
        finally:
            stack.close()
            extras.close()
    return out


def workers_series(workdir: Path, seconds: int, token: str) -> dict[str, Any]:
    script = lua_script(bodies(), token, workdir / "workers.lua")
    out: dict[str, Any] = {}
    for w in (1, 2):
        stack = Stack(0, workdir, workers=w)
        try:
            time.sleep(1)  # every worker up
            out[str(w)] = r = measure(stack, script, 16 * w, seconds)
            line(f"workers {w} (c={16 * w})", r)
        finally:
            stack.close()
    out["speed_up"] = round(out["2"]["rps"] / out["1"]["rps"], 2)
    return out


def search_series(workdir: Path, seconds: int, token: str, children: int) -> dict[str, Any]:
    started = time.perf_counter()
    # The per-practitioner search rate limit (20/minute by default) is lifted: this measures search, not it.
    stack = Stack(0, workdir, children=children, env={"WARDGATE_SEARCH_RATE": "1000000/minute"})
    built = time.perf_counter() - started
    pop = Population.generate(children, SEED)
    sample = [c for c in pop.children if not c.deceased][:: max(1, children // 200)][:200]
    requests = [orjson.dumps({"query": SEARCH, "variables": {"n": c.family, "d": c.dob.isoformat()}}) for c in sample]
    script = lua_script(requests, token, workdir / "search.lua")
    out: dict[str, Any] = {"children": children, "mocks_started_s": round(built, 1)}
    try:
        for c in (1, 16):
            out[f"c{c}"] = r = measure(stack, script, c, seconds)
            line(f"search {children} children c={c}", r)
    finally:
        stack.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--series", default="agencies,lists,workers,search")
    ap.add_argument("--search-children", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=RESULTS / "growth.json")
    args = ap.parse_args()
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="wardgate-growth-"))
    token = dev_token("social-worker", mfa=True, ttl_s=3600)
    results: dict[str, Any] = {
        "machine": machine(),
        "placement": "gateway pinned to core 0 (2 workers: cores 0-1); mocks, extra agencies and wrk on core 1",
        "query": QUERY,
        "seconds_per_point": args.seconds,
    }
    series = args.series.split(",")
    if "agencies" in series:
        results["agencies"] = agencies_series(workdir, args.seconds, token)
    if "lists" in series:
        results["involvements_per_child"] = lists_series(workdir, args.seconds)
    if "workers" in series:
        results["workers"] = workers_series(workdir, args.seconds, token)
    if "search" in series:
        results["search"] = search_series(workdir, args.seconds, token, args.search_children)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
