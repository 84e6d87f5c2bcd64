"""Soak: ten minutes of mixed persona traffic while agencies flap (errors, timeouts, slow bodies).

    python -m bench.soak                    # 600 s, concurrency 16
    python -m bench.soak --seconds 120      # a shorter look

One gateway worker on core 0; mocks and wrk on core 1. Every ``--phase-s`` seconds the faults move on
(through the agencies' admin API): one agency answers 30% errors, another hangs on 20% of calls past
its timeout, a third sends its body slowly (300 ms), then all are healthy for a phase, and round again
on other agencies. Six personas ask for full profiles of 200 children, each with its own token.

Every response is sorted by wrk's Lua into: ``ok``; ``degraded`` (an agency's part missing with an
AGENCY_* error: the injected faults showing, as they should); and ``failed`` (not 200, or any error but
a withheld field or an agency's). The gateway's RSS and open file descriptors are sampled every 10 s.
Pass criteria, printed (see ``verdict``): no failed request; RSS flat over the second half of the run
(it climbs while caches and pools fill, then levels); file descriptors not growing.
Results go to bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.gateway import CHILDREN, QUERY, RESULTS, SEED, Stack, machine, pinned, require_wrk, rss_mb
from gateway.dev.tokens import dev_token
from mocks.population import Population

PERSONAS = ("social-worker", "gp", "teacher", "police-officer", "health-visitor", "camhs-clinician")
ADMIN = {"x-admin-key": "mock-admin"}
ROTATION = ("police", "education", "social-care", "housing", "camhs", "youth-justice", "sexual-health", "health")
FAULTS = (
    {"error_rate": 0.3},
    {"timeout_rate": 0.2, "hang_seconds": 5},
    {"slow_body_ms": 300},
)


def script(path: Path) -> Path:
    pop = Population.generate(CHILDREN, SEED)
    children = [c for c in pop.children if not c.deceased][:200]
    tokens = {p: dev_token(p, mfa=True, ttl_s=4 * 3600) for p in PERSONAS}
    items = []
    for i, child in enumerate(children):
        body = orjson.dumps({"query": QUERY, "variables": {"id": child.nhs_number}}).decode()
        items.append(f'{{"{tokens[PERSONAS[i % len(PERSONAS)]]}", [==[{body}]==]}}')
    path.write_text(
        "local reqs = {\n"
        + ",\n".join(items)
        + "\n}\n"
        + """local i = 0
request = function()
  i = i % #reqs + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. reqs[i][1]}
  return wrk.format("POST", "/graphql", headers, reqs[i][2])
end
ok, degraded, failed = 0, 0, 0
response = function(status, headers, body)
  if status ~= 200 then failed = failed + 1 return end
  local agency, other = false, false
  for code in string.gmatch(body, '"code":%s*"([%w_]+)"') do
    if string.sub(code, 1, 7) == "AGENCY_" then agency = true
    elseif code ~= "FORBIDDEN_FIELD" then other = true end
  end
  if other then failed = failed + 1 elseif agency then degraded = degraded + 1 else ok = ok + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local o, d, f = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); d = d + t:get("degraded"); f = f + t:get("failed")
  end
  io.write(string.format('SOAKJSON {"ok": %d, "degraded": %d, "failed": %d, "requests": %d, "p50": %d, "p99": %d,'
    .. ' "timeouts": %d, "socket_errors": %d}\\n', o, d, f, summary.requests, latency:percentile(50),
    latency:percentile(99), summary.errors.timeout,
    summary.errors.connect + summary.errors.read + summary.errors.write))
end
"""
    )
    return path


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Flapper(threading.Thread):
    """Moves the faults on every ``phase_s`` seconds; records what was injected when."""

    def __init__(self, agencies: dict[str, str], phase_s: float) -> None:
        super().__init__(daemon=True)
        self.agencies, self.phase_s = agencies, phase_s
        self.stop = threading.Event()
        self.schedule: list[dict[str, Any]] = []

    def set(self, agency: str, spec: dict[str, Any]) -> None:
        httpx.put(self.agencies[agency] + "/__admin/faults", headers=ADMIN, json=spec, timeout=5).raise_for_status()

    def run(self) -> None:
        started, phase = time.monotonic(), 0
        while not self.stop.is_set():
            for agency in ROTATION:
                self.set(agency, {})
            injected: dict[str, Any] = {}
            if phase % 4 != 3:  # every fourth phase: everyone healthy
                for k, spec in enumerate(FAULTS):
                    agency = ROTATION[(phase + 3 * k) % len(ROTATION)]
                    self.set(agency, {**spec, "seed": phase})
                    injected[agency] = spec
            self.schedule.append({"at_s": round(time.monotonic() - started), "faults": injected})
            phase += 1
            self.stop.wait(self.phase_s)
        for agency in ROTATION:
            self.set(agency, {})


def verdict(results: dict[str, Any]) -> dict[str, bool]:
    """Pass criteria. Memory: RSS climbs while pools and caches fill (decisions, verified tokens, parsed
    documents, connections), so "flat" is judged over the second half of the run: at most 5% + 5 MB
    between the sample at half-time and the end. File descriptors: no more at the end than at the start
    (+2: a connection being replaced)."""
    samples = results["samples"]
    half = next(s for s in samples if s["t_s"] >= results["seconds"] / 2)
    end_rss, end_fds = results["rss_mb"]["end"], results["fds"]["end"]
    results["rss_mb"]["half_time"] = half["rss_mb"]
    return {
        "no_failed_requests": results["failed"] == 0,
        "memory_flat": end_rss <= half["rss_mb"] * 1.05 + 5,
        "no_fd_growth": end_fds <= results["fds"]["start"] + 2,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--phase-s", type=float, default=30)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = ap.parse_args()
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="wardgate-soak-"))
    lua = script(workdir / "soak.lua")
    stack = Stack(0, workdir)
    samples: list[dict[str, float]] = []
    try:
        pid = stack.gateway.pid
        warm = ["wrk", "-t1", "-c16", "-d15s", "-s", str(lua), stack.url + "/graphql"]
        subprocess.run(pinned("1", warm), capture_output=True, check=True)  # warm-up: pools, caches, allocator
        start = {"rss_mb": round(rss_mb(pid), 1), "fds": fds(pid)}
        flapper = Flapper(stack.agencies, args.phase_s)
        flapper.start()
        argv = ["wrk", "-t1", f"-c{args.concurrency}", f"-d{args.seconds}s", "--timeout", "10s", "-s", str(lua)]
        load = subprocess.Popen(pinned("1", [*argv, stack.url + "/graphql"]), stdout=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        while load.poll() is None:
            samples.append({"t_s": round(time.monotonic() - t0), "rss_mb": round(rss_mb(pid), 1), "fds": fds(pid)})
            time.sleep(10)
        out = load.stdout.read() if load.stdout else ""
        flapper.stop.set()
        flapper.join(10)
        time.sleep(3)  # in-flight calls to hung agencies end
        end = {"rss_mb": round(rss_mb(pid), 1), "fds": fds(pid)}
    finally:
        stack.close()
    counts = json.loads(re.search(r"SOAKJSON (\{.*\})", out).group(1))  # type: ignore[union-attr]
    requests = max(counts["requests"], 1)
    results: dict[str, Any] = {
        "machine": machine(),
        "placement": "gateway: 1 uvicorn worker on core 0; mocks and wrk (1 thread) on core 1",
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "personas": PERSONAS,
        "requests": counts["requests"],
        "rps": round(counts["requests"] / args.seconds, 1),
        "ok": counts["ok"],
        "degraded_by_injected_faults": counts["degraded"],
        "degraded_share": round(counts["degraded"] / requests, 4),
        "failed": counts["failed"],
        "client_timeouts": counts["timeouts"],
        "socket_errors": counts["socket_errors"],
        "p50_ms": counts["p50"] / 1000,
        "p99_ms": counts["p99"] / 1000,
        "rss_mb": {"start": start["rss_mb"], "end": end["rss_mb"], "max": max(s["rss_mb"] for s in samples)},
        "fds": {"start": start["fds"], "end": end["fds"], "max": max(s["fds"] for s in samples)},
        "fault_schedule": flapper.schedule,
        "samples": samples,
    }
    results["pass"] = verdict(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"{counts['requests']} requests in {args.seconds} s ({results['rps']} req/s): ok {counts['ok']},"
        f" degraded by injected faults {counts['degraded']} ({results['degraded_share']:.1%}),"
        f" failed {counts['failed']}"
    )
    print(f"p50 {results['p50_ms']:.1f} ms, p99 {results['p99_ms']:.1f} ms")
    print(
        f"RSS {start['rss_mb']} -> {results['rss_mb']['half_time']} at half-time -> {end['rss_mb']} MB;"
        f" fds {start['fds']} -> {end['fds']}"
    )
    print(f"pass: {results['pass']}; written to {args.out}")


if __name__ == "__main__":
    main()
