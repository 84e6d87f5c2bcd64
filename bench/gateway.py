"""Overhead and cost of the whole gateway: the real gateway and the real mock agencies, over loopback,
loaded by wrk. Everything in the request path is on (JWT check, limits, policy, audit, metrics, logs).

    python -m bench.gateway                       # 20 ms, 100 ms, 50-150 ms: c=1,16,64; zero latency: CPU
    python -m bench.gateway --seconds 20 --latency-ms 40,30-90

1. Overhead: every agency answers after a fixed ``--latency-ms``. A full profile waits for its slowest
   agency chain (health, then the name-and-DOB searches it enables, then cross-references: one to three
   calls long, depending on the child). The gateway reports that wait per response in its W3C
   ``Server-Timing`` header (``agencies;dur=``, the fan-out's wall time, and ``gateway;dur=``, its own
   total); wrk's Lua collects both. Overhead = client-measured latency minus the agencies' part, at
   p50 and p99 (percentile of latency minus the same percentile of the agencies' part), per
   concurrency; the in-gateway figure (gateway total minus agencies, per response) is reported too.
   The difference between the two is time spent queued before the gateway reads the request.
   A series written ``A-B`` gives every call a latency drawn uniformly from A to B ms instead. With a
   fixed latency the closed loop keeps wrk's connections in step (all answers of a round arrive
   together and queue behind each other); the drawn latency shows the same load without that.
2. Cost: agencies at zero latency, concurrency 16: gateway CPU seconds (utime + stime from
   /proc/PID/stat) over requests completed, and requests/s of the one worker; the median of
   ``--cost-runs`` runs (the machine is shared and noisy), with every run's figure kept.

The gateway is pinned to core 0; the mocks and wrk share core 1 (``taskset``). Results are printed
and written to bench/results/gateway.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.dev.tokens import dev_token
from mocks.population import Population
from mocks.runner import urls
from support.processes import free_port_block
from support.stack import FULL

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results")
QUERY = FULL
CHILDREN, SEED = 3000, 1
TICKS = os.sysconf("SC_CLK_TCK")


def pinned(cores: str, argv: list[str]) -> list[str]:
    """``argv`` run on ``cores`` ("0", "0,1") where taskset and a second core exist."""
    return ["taskset", "-c", cores, *argv] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else argv


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every process under it (uvicorn workers, Hive's forked worker)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_seconds(p)
            todo.extend(int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split())
        except OSError:  # ended meanwhile
            continue
    return total


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def require_wrk() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (make bench-deps, or Debian: apt-get install wrk)")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def lua_script(bodies: list[bytes], token: str, path: Path) -> Path:
    items = ",\n".join(f"[==[{b.decode()}]==]" for b in bodies)
    path.write_text(
        f"""local bodies = {{
{items}
}}
local i = 0
local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}"}}
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/graphql", headers, bodies[i])
end
failed = 0  -- per thread; done() adds them up
-- A failure: not 200, or an error other than a field withheld by policy (that is the policy working).
local function bad(body)
  if not string.find(body, '"errors"', 1, true) then return false end
  local coded = false
  for code in string.gmatch(body, '"code":%s*"([%w_]+)"') do
    coded = true
    if code ~= "FORBIDDEN_FIELD" then return true end
  end
  return not coded
end
-- The gateway's Server-Timing header: the agencies' part (the fan-out) and its own total, per response.
agencies, inside, timed = {{}}, {{}}, 0
response = function(status, headers, body)
  if status ~= 200 or bad(body) then failed = failed + 1 end
  local st = headers["server-timing"] or headers["Server-Timing"]
  if st then
    local a = tonumber(string.match(st, "agencies;dur=([%d.]+)"))
    local g = tonumber(string.match(st, "gateway;dur=([%d.]+)"))
    if a and g then timed = timed + 1; agencies[timed] = a; inside[timed] = g - a end
  end
end
local threads = {{}}
setup = function(thread) table.insert(threads, thread) end
local function pct(values, p)
  if #values == 0 then return -1 end
  table.sort(values)
  return values[math.max(1, math.ceil(#values * p / 100))]
end
done = function(summary, latency, requests)
  local errors, a, g = 0, {{}}, {{}}
  for _, t in ipairs(threads) do
    errors = errors + (t:get("failed") or 0)
    for _, v in ipairs(t:get("agencies") or {{}}) do table.insert(a, v) end
    for _, v in ipairs(t:get("inside") or {{}}) do table.insert(g, v) end
  end
  io.write(string.format(
    "WRKJSON {{\\"p50\\": %d, \\"p99\\": %d, \\"p90\\": %d, \\"mean\\": %.1f, "
    .. "\\"requests\\": %d, \\"errors\\": %d, \\"agencies_p50\\": %.3f, \\"agencies_p99\\": %.3f, "
    .. "\\"inside_p50\\": %.3f, \\"inside_p99\\": %.3f}}\\n",
    latency:percentile(50), latency:percentile(99), latency:percentile(90), latency.mean, summary.requests, errors,
    pct(a, 50), pct(a, 99), pct(g, 50), pct(g, 99)))
end
"""
    )
    return path


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    argv = pinned("1", ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    stats = json.loads(re.search(r"WRKJSON (\{.*\})", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": stats["p50"] / 1000,
        "p90_ms": stats["p90"] / 1000,
        "p99_ms": stats["p99"] / 1000,
        "requests": stats["requests"],
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "failed": stats["errors"],  # non-200, or any GraphQL error but a field withheld by policy
        # from the gateway's Server-Timing header (-1 where it sends none)
        "agencies_p50_ms": stats["agencies_p50"],
        "agencies_p99_ms": stats["agencies_p99"],
        "in_gateway_p50_ms": stats["inside_p50"],
        "in_gateway_p99_ms": stats["inside_p99"],
    }


class Stack:
    """Mocks on core 1 and one gateway worker on core 0, with every agency at ``latency_ms`` (a pair:
    each call's latency drawn uniformly between the two).

    ``children`` sizes the mock population; ``connectors`` replaces the connector directory;
    ``overrides`` points agencies at other URLs (extra mock agencies); ``env`` adds gateway settings.
    """

    def __init__(
        self,
        latency_ms: float | tuple[float, float],
        workdir: Path,
        workers: int = 1,
        *,
        children: int = CHILDREN,
        connectors: Path | None = None,
        overrides: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ):
        self.workdir = workdir
        base = free_port_block(10)
        if isinstance(latency_ms, tuple):
            low, high = latency_ms
            spec: dict[str, Any] = {"latency": {"kind": "uniform", "min_ms": low, "max_ms": high}}
            latency_ms = (low + high) / 2
        else:
            spec = {"latency": {"kind": "fixed", "ms": latency_ms}} if latency_ms else {}
        faults = workdir / f"faults-{latency_ms}.json"
        faults.write_text(json.dumps({a: spec for a in urls("127.0.0.1", base)}))
        mocks_argv = [sys.executable, "-m", "gateway", "mocks", "--children", str(children), "--seed", str(SEED)]
        mocks_argv += ["--base-port", str(base), "--faults", str(faults)]
        self.mocks = spawn(pinned("1", mocks_argv), {}, workdir / "mocks.log")
        agencies = urls("127.0.0.1", base)
        self.agencies = agencies
        wait_for(agencies["directory"] + "/openapi.json", self.mocks, timeout=600)
        self.port = free_port_block(1)
        upstreams = {k: v for k, v in agencies.items() if k != "directory"} | (overrides or {})
        gateway_env = {
            "WARDGATE_PORT": str(self.port),
            "WARDGATE_OPERATOR_PORT": str(free_port_block(1)),
            "WARDGATE_WORKERS": str(workers),
            "WARDGATE_AGENCY_URLS": json.dumps(upstreams),
            "WARDGATE_DIRECTORY_URL": agencies["directory"],
            "WARDGATE_AUDIT_PATH": str(workdir / f"audit-{latency_ms}-{self.port}.jsonl"),
            "WARDGATE_POLICY_WATCH": "false",
            "WARDGATE_MODE": "development",
            "WARDGATE_LINKAGE_CHILDREN": str(children),
            "WARDGATE_CHILD_RATE": "100000000/minute",  # the load is one practitioner's token
            **({"WARDGATE_CONNECTORS": json.dumps([str(connectors)])} if connectors else {}),
            **(env or {}),
        }
        argv = pinned("0" if workers == 1 else "0,1", [sys.executable, "-m", "gateway", "run"])
        self.gateway = spawn(argv, gateway_env, workdir / "gateway.log")
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(self.url + "/healthz", self.gateway)

    def cpu_seconds(self) -> float:
        """The gateway's CPU seconds, with several workers their sum."""
        return tree_cpu_seconds(self.gateway.pid)

    def close(self) -> None:
        for proc in (self.gateway, self.mocks):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def bodies(count: int = 200) -> list[bytes]:
    pop = Population.generate(CHILDREN, SEED)
    children = [c for c in pop.children if not c.deceased][:count]
    return [orjson.dumps({"query": QUERY, "variables": {"id": c.nhs_number}}) for c in children]


def check(url: str, body: bytes, token: str) -> None:
    r = httpx.post(
        url + "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
        timeout=10,
    )
    out = r.json()
    assert out["data"]["child"]["id"], out
    bad = [e for e in out.get("errors", []) if e["extensions"]["code"] in ("INTERNAL", "BAD_REQUEST")]
    assert not bad, bad


def latencies(text: str) -> list[tuple[str, float | tuple[float, float]]]:
    """``20,100,50-150`` -> series: a fixed latency, or a range each call's latency is drawn from."""
    series: list[tuple[str, float | tuple[float, float]]] = []
    for item in text.split(","):
        low, sep, high = item.strip().partition("-")
        try:
            value: float | tuple[float, float] = (float(low), float(high)) if sep else float(low)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: a latency is milliseconds (40) or a range (30-90)") from None
        if isinstance(value, tuple) and not 0 <= value[0] <= value[1]:
            raise argparse.ArgumentTypeError(f"{item!r}: a range runs from a lower to a higher latency")
        series.append((f"{value[0]:g}-{value[1]:g}" if isinstance(value, tuple) else f"{value:g}", value))
    return series


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument(
        "--latency-ms",
        type=latencies,
        default="20,100,50-150",
        help="each agency's fixed latency, or A-B for one drawn uniformly per call; one overhead series each",
    )
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--cost-runs", type=int, default=3, help="zero-latency runs; their median is reported")
    ap.add_argument("--out", type=Path, default=RESULTS / "gateway.json")
    args = ap.parse_args()
    require_wrk()
    token = dev_token("social-worker", mfa=True, ttl_s=3600)
    workdir = Path(tempfile.mkdtemp(prefix="wardgate-bench-"))
    requests = bodies()
    script = lua_script(requests, token, workdir / "child.lua")
    results: dict[str, Any] = {
        "machine": machine(),
        "placement": "gateway: 1 uvicorn worker pinned to core 0; mock agencies and wrk (1 thread) on core 1",
        "query": "support/full_profile.graphql (every agency), social-worker persona with two factors",
        "seconds_per_run": args.seconds,
        "overhead": {},
    }

    for name, latency in args.latency_ms:
        stack = Stack(latency, workdir)
        try:
            check(stack.url, requests[0], token)
            wrk(stack.url + "/graphql", script, 4, 2)  # warm: connections, caches, decision cache
            overhead = {}
            for c in [int(x) for x in args.concurrency.split(",")]:
                r = wrk(stack.url + "/graphql", script, c, args.seconds)
                r["overhead_p50_ms"] = round(r["p50_ms"] - r["agencies_p50_ms"], 2)
                r["overhead_p99_ms"] = round(r["p99_ms"] - r["agencies_p99_ms"], 2)
                overhead[f"c{c}"] = r
                print(
                    f"latency {name} ms, c={c:>3}: {r['rps']:8.1f} req/s  p50 {r['p50_ms']:.2f} ms"
                    f"  p99 {r['p99_ms']:.2f} ms  overhead p50 {r['overhead_p50_ms']:.2f} ms"
                    f"  p99 {r['overhead_p99_ms']:.2f} ms  (in gateway {r['in_gateway_p50_ms']:.2f} /"
                    f" {r['in_gateway_p99_ms']:.2f} ms)  failed {r['failed']}"
                )
            results["overhead"][f"{name}ms"] = {"agency_latency_ms": latency, **overhead}
        finally:
            stack.close()

    stack = Stack(0, workdir)
    try:
        wrk(stack.url + "/graphql", script, 4, 2)
        runs = []
        for _ in range(args.cost_runs):
            before_cpu, before_rss = stack.cpu_seconds(), rss_mb(stack.gateway.pid)
            r = wrk(stack.url + "/graphql", script, 16, args.seconds)
            cpu = stack.cpu_seconds() - before_cpu
            r["cpu_ms_per_request"] = round(cpu / r["requests"] * 1000, 3)
            r["rss_mb_start"], r["rss_mb_end"] = round(before_rss, 1), round(rss_mb(stack.gateway.pid), 1)
            runs.append(r)
            print(f"zero latency, c=16: {r['rps']:.1f} req/s, {r['cpu_ms_per_request']:.3f} ms CPU per request")
        median = sorted(runs, key=lambda r: r["cpu_ms_per_request"])[len(runs) // 2]
        results["cost"] = {
            "agency_latency_ms": 0,
            "concurrency": 16,
            "runs": len(runs),
            "cpu_ms_per_request_each_run": [r["cpu_ms_per_request"] for r in runs],
            **median,
        }
        print(
            f"median of {len(runs)}: {median['rps']:.1f} req/s per worker,"
            f" {median['cpu_ms_per_request']:.3f} ms CPU per request, p50 {median['p50_ms']:.2f} ms,"
            f" RSS {runs[0]['rss_mb_start']} -> {runs[-1]['rss_mb_end']} MB"
        )
    finally:
        stack.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
