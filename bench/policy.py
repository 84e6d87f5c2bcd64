"""The policy stage's added latency per full child profile, cold (engine evaluation) and warm (cached).

The stage is what a request pays between linking and responding: collect the field classes,
decide (one engine evaluation, or a cache hit), and build the answer with decisions applied.
The profile is fetched once over real HTTP from the mock agencies (in this process, on loopback);
then the stage alone is timed, many times.

    python -m bench.policy                    # both engines, 400 iterations each
    python -m bench.policy --engine embedded --iterations 1000

"opa" here is the OPA REST API stand-in (regopy behind OPA's protocol), in this process: it measures
the gateway's side of the sidecar path (HTTP, JSON, the client), not the speed of a real OPA.
Results are printed and written to bench/results/policy.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import graphql
import uvicorn

from gateway.config import load_settings
from gateway.graphql.schema import Child
from gateway.graphql.selection import Sel
from gateway.pipeline.child import ChildRequest, child_nodes
from gateway.pipeline.policy.classes import Walk
from gateway.pipeline.policy.complete import complete
from gateway.pipeline.policy.engines import EmbeddedEngine, OpaEngine, PolicyEngine
from gateway.server.app import build_schema, build_services
from gateway.types import Decision, Subject
from mocks.opa import opa_app
from mocks.population import Population
from mocks.runner import serve, urls
from support.processes import free_port_block
from support.stack import FULL

RESULTS = Path(__file__).with_name("results")
QUERY = FULL
ALLOW = Decision("allow", "BENCH")
SUBJECT = Subject("P000001", "social-worker", "social-care", True)


def selection(query: str) -> list[Sel]:
    doc = graphql.parse(query)
    op = doc.definitions[0]
    assert isinstance(op, graphql.OperationDefinitionNode)
    child = op.selection_set.selections[0]
    assert isinstance(child, graphql.FieldNode) and child.selection_set is not None

    def sels(node: graphql.SelectionSetNode) -> list[Sel]:
        out = []
        for s in node.selections:
            assert isinstance(s, graphql.FieldNode)
            out.append(Sel(s.name.value, s.name.value, sels(s.selection_set) if s.selection_set else []))
        return out

    return sels(child.selection_set)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(engine: PolicyEngine, iterations: int, base_port: int, pop: Population) -> dict[str, Any]:
    agencies = urls("127.0.0.1", base_port)
    settings = load_settings(
        mode="development",
        child_rate="1000000/minute",
        agency_urls={k: v for k, v in agencies.items() if k != "directory"},
        directory_url=agencies["directory"],
    )
    services = build_services(settings, build_schema(settings), engine=engine)
    await services.policy.load()
    candidates = [c for c in pop.of_kind("police-known") if not c.shielded and "weak-match" not in c.kinds]
    child = max(candidates, key=lambda c: (bool(c.camhs_id), bool(c.yj_id), bool(c.upn), bool(c.social_care_id)))
    # The child pipeline's own stages, up to the one measured: plan, fan out (real HTTP) and link, once.
    pipeline = services.child
    request = ChildRequest(
        SUBJECT, None, child.nhs_number, "safeguarding", None, tuple(selection(QUERY)), ("child",), "bench"
    )
    ask = await pipeline.parse(request, SUBJECT)
    plan = pipeline.plan(ask)
    answers, _ = await pipeline.fan_out(ask, plan)
    profile = await pipeline.link(ask, plan, answers)
    nodes = child_nodes(profile, {"matchGrade": "certain", "warnings": [], "sources": [], "conflicts": []})

    async def stage() -> tuple[float, Walk]:  # the policy stage, as the pipeline runs it
        started = time.perf_counter_ns()
        walk, _, _ = await pipeline.apply_policy(ask, plan, profile)
        return (time.perf_counter_ns() - started) / 1e6, walk

    class AllowAll(dict):  # type: ignore[type-arg]
        def get(self, key: Any, default: Any = None) -> Any:
            return ALLOW

    async def baseline() -> float:
        """The same answer built with no policy at all: what any gateway pays to answer."""
        started = time.perf_counter_ns()
        walk = Walk(services.table, decisions=AllowAll(), interned=services.policy.interned)
        complete(walk, Child, plan.selection, nodes, ("child",))
        return (time.perf_counter_ns() - started) / 1e6

    cold, warm, base = [], [], []
    for _ in range(20):  # warm up interpreters and connections
        services.policy._cache.clear()
        await stage()
    for _ in range(iterations):
        services.policy._cache.clear()
        ms, walk = await stage()
        cold.append(ms)
        ms, _ = await stage()
        warm.append(ms)
        base.append(await baseline())
    await services.upstream.aclose()
    await engine.aclose()
    return {
        "engine": type(engine).__name__,
        "fields": len(walk.returned) + len(walk.withheld),
        "fieldsReturned": len(walk.returned),
        "classes": len(walk.classes),
        "engineClasses": len({c if c.coordinate in services.policy._named else c[:2] for c in walk.classes}),
        "iterations": iterations,
        "coldMedianMs": round(statistics.median(cold), 3),
        "coldP99Ms": round(percentile(cold, 0.99), 3),
        "warmMedianMs": round(statistics.median(warm), 3),
        "warmP99Ms": round(percentile(warm, 0.99), 3),
        "noPolicyMedianMs": round(statistics.median(base), 3),
        "coldAddedMedianMs": round(statistics.median(cold) - statistics.median(base), 3),
        "warmAddedMedianMs": round(statistics.median(warm) - statistics.median(base), 3),
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    pop = Population.generate(children=600, seed=3)
    base = free_port_block(10)
    mocks = asyncio.create_task(serve(pop, base_port=base, announce=lambda _: None))
    opa_port = free_port_block(1)
    opa_server = uvicorn.Server(uvicorn.Config(opa_app(), host="127.0.0.1", port=opa_port, log_level="warning"))
    opa_task = asyncio.create_task(opa_server.serve())
    for _ in range(200):  # uvicorn has no start event to wait on
        if opa_server.started:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the mock agencies start alongside
    results = []
    try:
        if args.engine in ("embedded", "both"):
            results.append(await measure(EmbeddedEngine(), args.iterations, base, pop))
        if args.engine in ("opa", "both"):
            engine = OpaEngine(url=f"http://127.0.0.1:{opa_port}", timeout=1.0)
            results.append(await measure(engine, args.iterations, base, pop))
    finally:
        opa_server.should_exit = True
        mocks.cancel()
        await asyncio.gather(opa_task, mocks, return_exceptions=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["embedded", "opa", "both"], default="both")
    parser.add_argument("--iterations", type=int, default=400)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print(f"policy stage per full child profile (collect + decide + apply), {args.iterations} iterations")
    head = (
        "engine",
        "fields",
        "classes",
        "cold p50",
        "cold p99",
        "warm p50",
        "warm p99",
        "no-policy",
        "+cold",
        "+warm",
    )
    print(f"{head[0]:<16}" + "".join(f"{h:>10}" for h in head[1:]))
    for r in results:
        cells = [r["fields"], r["classes"]] + [
            f"{r[k]:.3f}ms"
            for k in (
                "coldMedianMs",
                "coldP99Ms",
                "warmMedianMs",
                "warmP99Ms",
                "noPolicyMedianMs",
                "coldAddedMedianMs",
                "warmAddedMedianMs",
            )
        ]
        print(f"{r['engine']:<16}" + "".join(f"{c:>10}" for c in cells))
    print("no-policy: the same answer built without policy; +cold/+warm: what the policy stage adds (medians)")
    print("targets: added warm < 0.2 ms, added cold < 10 ms")
    RESULTS.mkdir(exist_ok=True)
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}
    (RESULTS / "policy.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
