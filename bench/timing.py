"""The timing attack: can a requester tell, from how an answer is timed, whether a hidden record exists?

A teacher (who may not see youth justice) asks for children with and without a youth justice record,
selecting ``youthJustice`` (withheld from them) and ``sources { latencyMs }``. Every agency answers after
a lognormal latency, as real systems do. The attacker's evidence per child is the client-measured time
of the answer (the median of ``--repeats`` asks) and, where the gateway gives one, youth justice's
``latencyMs``. The attacker's classifier is the best single threshold on one feature, chosen on half of
the children and scored on the other half (both ways round, averaged): the accuracy a real attacker
could expect. 50% is a coin toss; the target is no better than 60% on 200 children.

    python -m bench.timing                    # 100 children with a youth justice record, 100 without
    python -m bench.timing --children 20000 --per-class 100 --repeats 3

Results are printed and written to bench/results/timing.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.gateway import RESULTS, SEED, Stack, machine
from gateway.dev.tokens import dev_token
from mocks.population import Population

QUERY = """query($id: ID!) { child(id: $id, purpose: ROUTINE_CARE) {
  youthJustice { orders { kind } } sources { agency latencyMs } } }"""
ADMIN = {"x-admin-key": "mock-admin"}


def best_threshold(train: list[tuple[float, bool]]) -> tuple[float, bool]:
    """The threshold (and which side means "holds a record") that classifies ``train`` best."""
    best = (0.0, True, -1.0)
    values = sorted({v for v, _ in train})
    for cut in values:
        for above in (True, False):
            right = sum(((v > cut) == above) == held for v, held in train)
            if right > best[2]:
                best = (cut, above, right)
    return best[0], best[1]


def accuracy(samples: list[tuple[float, bool]], rng: random.Random) -> float:
    """Two-fold: fit on one half, score on the other, both ways round."""
    shuffled = samples[:]
    rng.shuffle(shuffled)
    half = len(shuffled) // 2
    folds = (shuffled[:half], shuffled[half:])
    scores = []
    for train, test in (folds, folds[::-1]):
        cut, above = best_threshold(train)
        scores.append(sum(((v > cut) == above) == held for v, held in test) / len(test))
    return statistics.mean(scores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--children", type=int, default=20_000, help="population size (enough youth justice records)")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--median-ms", type=float, default=40.0)
    ap.add_argument("--sigma", type=float, default=0.4)
    ap.add_argument("--out", type=Path, default=RESULTS / "timing.json")
    args = ap.parse_args()
    pop = Population.generate(args.children, SEED)
    rng = random.Random(7)
    held = [c for c in pop.children if c.yj_id and not c.shielded][: args.per_class]
    others = [c for c in pop.children if not c.yj_id and c.age >= 10 and not c.shielded]
    clean = rng.sample(others, args.per_class)
    if len(held) < args.per_class:
        raise SystemExit(f"only {len(held)} children with a youth justice record; raise --children")
    workdir = Path(tempfile.mkdtemp(prefix="wardgate-timing-"))
    stack = Stack(0, workdir, children=args.children)
    token = dev_token("teacher")
    latency = {"latency": {"kind": "lognormal", "median_ms": args.median_ms, "sigma": args.sigma}}
    try:
        for url in stack.agencies.values():
            httpx.put(url + "/__admin/faults", headers=ADMIN, json=latency, timeout=5).raise_for_status()
        children = [(c, True) for c in held] + [(c, False) for c in clean]
        rng.shuffle(children)
        total: list[tuple[float, bool]] = []
        reported: list[tuple[float, bool]] = []
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            for _ in range(5):  # warm the connections and caches
                client.post(
                    "/graphql",
                    json={"query": QUERY, "variables": {"id": clean[0].nhs_number}},
                    headers={"Authorization": f"Bearer {token}"},
                )
            for child, has_record in children:
                times, given = [], []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    r = client.post(
                        "/graphql",
                        json={"query": QUERY, "variables": {"id": child.nhs_number}},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    times.append((time.perf_counter() - started) * 1000)
                    sources = {s["agency"]: s["latencyMs"] for s in r.json()["data"]["child"]["sources"]}
                    if sources.get("youth-justice") is not None:
                        given.append(sources["youth-justice"])
                total.append((statistics.median(times), has_record))
                if given:
                    reported.append((statistics.median(given), has_record))
    finally:
        stack.close()
    results: dict[str, Any] = {
        "machine": machine(),
        "children": {"with_record": len(held), "without": len(clean), "population": args.children},
        "agency_latency": latency["latency"],
        "repeats_per_child": args.repeats,
        "accuracy_from_response_time": round(accuracy(total, random.Random(1)), 3),
        "youth_justice_latency_given_for": len(reported),
        "accuracy_from_youth_justice_latency": round(accuracy(reported, random.Random(1)), 3) if reported else None,
        "median_ms_with_record": round(statistics.median(v for v, h in total if h), 2),
        "median_ms_without": round(statistics.median(v for v, h in total if not h), 2),
        "target": "no better than 0.60",
    }
    print(
        f"timing attack on youth justice records ({len(held)} + {len(clean)} children, teacher, lognormal agencies):"
        f" accuracy from response time {results['accuracy_from_response_time']:.3f};"
        f" youth justice latency given for {len(reported)} children"
        f" (median answer {results['median_ms_with_record']} ms with a record,"
        f" {results['median_ms_without']} ms without)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
