"""Scale-out through a real load balancer: requests/s through nginx to one and to two gateway instances on this
2-core machine, what the extra hop costs per request, and what sharing state through Redis costs.

    python -m bench.scale                   # 10 s per point
    python -m bench.scale --seconds 20

Every instance runs as it would in production behind a load balancer: directory cache, rate-limit windows and
circuit breakers in one Redis, its own audit chain in one directory (``WARDGATE_INSTANCE``). The query is the
full child profile (every agency), agencies at zero added latency, so the figure is the gateway's own capacity.

Placement: instance A on core 0; instance B, nginx (one worker), Redis, the mocks and wrk (one thread) on core 1
— a 2-core machine cannot give the second instance a core of its own, so the 2-instance figure is what a second
instance adds on a core it shares with everything else, not a second machine's worth.

Points: A directly (c=16); A directly with per-worker state (no Redis: the cost of sharing); nginx to A alone
(c=16); nginx to A and B (c=32, 16 per instance); and at c=1 A directly and through nginx, for the hop's latency.
Before the load, the cost of one guarded call with breaker state in memory and in Redis is timed in process.
CPU per request is read from /proc for each process (the gateway's, nginx's, Redis's, the mocks'), and the
audit trail's bytes per record are counted. Results go to bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.gateway import (
    CHILDREN,
    QUERY,
    RESULTS,
    SEED,
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
from gateway.agencies.resilience import Guards
from gateway.dev.tokens import dev_token
from gateway.metrics import Metrics
from mocks.runner import urls
from support.processes import free_port_block, nginx_server, redis_server

SHARED = "shared"  # Redis for cache, rate limits and breakers
LOCAL = "local"  # memory per worker


def pin_tree(pid: int, core: int) -> None:
    """``pid`` and its children (nginx's worker) onto ``core``, where there is a second core."""
    if (os.cpu_count() or 1) < 2:
        return
    for p in [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        os.sched_setaffinity(p, {core})


class Bench:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[Any] = []
        base = free_port_block(10)
        argv = [sys.executable, "-m", "gateway", "mocks", "--children", str(CHILDREN), "--seed", str(SEED)]
        self.mocks = self._keep(spawn(pinned("1", [*argv, "--base-port", str(base)]), {}, workdir / "mocks.log"))
        self.agencies = urls("127.0.0.1", base)
        wait_for(self.agencies["directory"] + "/openapi.json", self.mocks, timeout=600)
        redis_port = free_port_block(1)
        self.redis = self._keep(redis_server(redis_port))
        pin_tree(self.redis.pid, 1)
        self.redis_url = f"redis://127.0.0.1:{redis_port}"

    def _keep(self, proc: Any) -> Any:
        self.procs.append(proc)
        return proc

    def gateway(self, name: str, core: str, state: str) -> tuple[str, Any]:
        port = free_port_block(1)
        env = {
            "WARDGATE_PORT": str(port),
            "WARDGATE_OPERATOR_PORT": str(free_port_block(1)),
            "WARDGATE_INSTANCE": name,
            "WARDGATE_AGENCY_URLS": json.dumps({k: v for k, v in self.agencies.items() if k != "directory"}),
            "WARDGATE_DIRECTORY_URL": self.agencies["directory"],
            "WARDGATE_AUDIT_PATH": str(self.workdir / "audit"),
            "WARDGATE_POLICY_WATCH": "false",
            "WARDGATE_MODE": "development",
            "WARDGATE_CHILD_RATE": "100000000/minute",  # the load is one practitioner's token
        }
        if state == SHARED:
            env |= {
                "WARDGATE_CACHE_URL": f"{self.redis_url}/0",
                "WARDGATE_RATE_LIMIT_STORAGE": f"async+{self.redis_url}/1",
                "WARDGATE_BREAKER_URL": f"{self.redis_url}/2",
            }
        proc = self._keep(
            spawn(pinned(core, [sys.executable, "-m", "gateway", "run"]), env, self.workdir / f"{name}.log")
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/healthz", proc)
        return url, proc

    def nginx(self, name: str, upstreams: list[str]) -> tuple[str, Any]:
        port = free_port_block(1)
        addresses = [u.removeprefix("http://") for u in upstreams]
        proc = self._keep(nginx_server(port, addresses, self.workdir / name))
        pin_tree(proc.pid, 1)
        return f"http://127.0.0.1:{port}", proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(10)


def measure(url: str, script: Path, connections: int, seconds: int, cpu: dict[str, Any]) -> dict[str, Any]:
    """wrk against ``url``; CPU ms per request of each process in ``cpu`` (name -> Popen)."""
    wrk(url + "/graphql", script, 4, 2)  # warm: connections, caches, the policy decisions
    before = {name: tree_cpu_seconds(p.pid) for name, p in cpu.items()}
    r = wrk(url + "/graphql", script, connections, seconds)
    for name, p in cpu.items():
        spent = tree_cpu_seconds(p.pid) - before[name]
        r[f"cpu_ms_per_request_{name}"] = round(spent / max(r["requests"], 1) * 1000, 3)
    return r


def line(label: str, r: dict[str, Any]) -> None:
    cpu = "  ".join(f"{k.removeprefix('cpu_ms_per_request_')} {v:.3f}" for k, v in r.items() if k.startswith("cpu_ms"))
    print(
        f"{label:<34} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
        f"  failed {r['failed']}  CPU ms/req: {cpu}"
    )


def guard_cost(redis_url: str, calls: int = 20_000) -> dict[str, float]:
    """Microseconds per guarded call to a healthy agency, breaker state in memory and shared through Redis
    (best of five rounds, in process): the shared store must cost the hot path nothing."""
    policy = {"retries": 1, "backoff_s": 0.04, "max_in_flight": 64, "threshold": 5, "reset_s": 15}

    async def ok(_: float) -> int:
        return 1

    async def rounds(store: str) -> float:
        guards = Guards(Metrics(), store_url=store)
        guard = guards.add("health", **policy)
        deadline = asyncio.get_running_loop().time() + 3600
        await guard.call(ok, deadline)
        best = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(calls):
                await guard.call(ok, deadline)
            best.append((time.perf_counter() - started) / calls * 1e6)
        await guards.aclose()
        return round(min(best), 2)

    return {
        "guard_us_per_call_memory": asyncio.run(rounds("memory://")),
        "guard_us_per_call_redis": asyncio.run(rounds(f"{redis_url}/3")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    args = ap.parse_args()
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="wardgate-scale-"))
    token = dev_token("social-worker", mfa=True, ttl_s=3600)
    script = lua_script(bodies(), token, workdir / "full.lua")
    bench = Bench(workdir)
    results: dict[str, Any] = {
        "machine": machine(),
        "placement": "instance A on core 0; instance B, nginx (1 worker), Redis, mocks and wrk (1 thread) on core 1",
        "query": QUERY,
        "seconds_per_point": args.seconds,
    }
    try:
        a_url, a = bench.gateway("gw-a", "0", SHARED)
        b_url, b = bench.gateway("gw-b", "1", SHARED)
        one_url, one = bench.nginx("nginx-1", [a_url])
        two_url, two = bench.nginx("nginx-2", [a_url, b_url])
        redis, mocks = bench.redis, bench.mocks
        guards = guard_cost(bench.redis_url)
        print(f"guarded call to a healthy agency: {guards} (microseconds)")
        points: dict[str, Any] = {}
        points["direct_1_instance_c16"] = measure(
            a_url, script, 16, args.seconds, {"gateway": a, "redis": redis, "mocks": mocks}
        )
        line("direct, 1 instance, c=16", points["direct_1_instance_c16"])
        points["nginx_1_instance_c16"] = measure(
            one_url, script, 16, args.seconds, {"gateway": a, "nginx": one, "redis": redis, "mocks": mocks}
        )
        line("nginx, 1 instance, c=16", points["nginx_1_instance_c16"])
        points["nginx_2_instances_c32"] = measure(
            two_url,
            script,
            32,
            args.seconds,
            {"gateway": a, "gateway_b": b, "nginx": two, "redis": redis, "mocks": mocks},
        )
        line("nginx, 2 instances, c=32", points["nginx_2_instances_c32"])
        # The hop's latency is a fraction of a millisecond in a machine's noise: three alternating pairs, medians.
        points["direct_1_instance_c1"], points["nginx_1_instance_c1"] = {"runs": []}, {"runs": []}
        for _ in range(3):
            for key, url, cpu in (
                ("direct_1_instance_c1", a_url, {"gateway": a}),
                ("nginx_1_instance_c1", one_url, {"gateway": a, "nginx": one}),
            ):
                r = measure(url, script, 1, args.seconds, cpu)
                points[key]["runs"].append(r)
                line(key.replace("_", " "), r)
        for key in ("direct_1_instance_c1", "nginx_1_instance_c1"):
            runs = points[key]["runs"]
            points[key] |= {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], float)}
        for proc in (b, one, two):  # out of the way of the last point
            proc.terminate()
            proc.wait(10)
        bench.procs = [p for p in bench.procs if p not in (b, one, two)]
        local_url, local = bench.gateway("gw-local", "0", LOCAL)
        a.terminate()
        a.wait(10)
        bench.procs.remove(a)
        time.sleep(1)
        points["direct_1_instance_c16_no_redis"] = measure(local_url, script, 16, args.seconds, {"gateway": local})
        line("direct, 1 instance, no Redis, c=16", points["direct_1_instance_c16_no_redis"])
        results["points"] = points
        results["summary"] = summary(points) | guards
    finally:
        bench.close()
    chains = list((workdir / "audit").glob("*.jsonl"))
    records = sum(len(c.read_bytes().splitlines()) for c in chains)
    results["summary"]["audit_bytes_per_record"] = round(sum(c.stat().st_size for c in chains) / max(records, 1))
    shutil.rmtree(workdir, ignore_errors=True)  # the audit chains alone are ~70 MB
    print(json.dumps(results["summary"], indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


def summary(p: dict[str, Any]) -> dict[str, Any]:
    """The figures the README quotes."""
    direct, one, two = p["direct_1_instance_c16"], p["nginx_1_instance_c16"], p["nginx_2_instances_c32"]
    return {
        "rps_direct_1_instance": direct["rps"],
        "rps_nginx_1_instance": one["rps"],
        "rps_nginx_2_instances": two["rps"],
        "speed_up_2_instances": round(two["rps"] / one["rps"], 2),
        "hop_latency_ms_p50_c1": round(p["nginx_1_instance_c1"]["p50_ms"] - p["direct_1_instance_c1"]["p50_ms"], 3),
        "hop_cpu_ms_per_request_nginx": one["cpu_ms_per_request_nginx"],
        "gateway_cpu_ms_per_request_direct": direct["cpu_ms_per_request_gateway"],
        "gateway_cpu_ms_per_request_behind_nginx": one["cpu_ms_per_request_gateway"],
        "redis_cpu_ms_per_request": direct["cpu_ms_per_request_redis"],
        "mocks_cpu_ms_per_request": direct["cpu_ms_per_request_mocks"],
        "gateway_cpu_ms_per_request_no_redis": p["direct_1_instance_c16_no_redis"]["cpu_ms_per_request_gateway"],
    }


if __name__ == "__main__":
    main()
