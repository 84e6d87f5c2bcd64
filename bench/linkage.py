"""Record linkage against the mocks' ground truth: precision, recall, recall per kind of error, CPU.

    python -m bench.linkage                 # measure; figures printed and written to bench/results/linkage.json
    python -m bench.linkage --estimate      # estimate the weights file from a population and write it

**Measure.** For each population (the mocks' default, 3,000 children, and 100,000; seed 1; the default
error rates and twice them) every child is searched for, as the gateway does, by surname and date of
birth at each agency that holds demographics (education, social care, police, housing, youth justice),
and also by the date with day and month swapped. Each record a search returns is graded by the
Fellegi-Sunter matcher and, in the same run, by today's ``RuleMatcher``. A pair (child, record) is
linked when it is graded at all (certain, probable or possible).

- *pairwise*, the headline: the probabilistic path on every record, NHS numbers withheld from both
  sides, so that names, dates and postcodes alone are measured. Precision is over linked pairs, recall
  over every true pair of a child and an agency record (those no search finds count as missed).
- *as deployed*: a record's valid NHS number links it first (certain); the rest as above, NHS numbers
  given (a different valid number on the record is another child).
- *per kind of error*: recall over the true pairs whose record was given that error (ErrorRates' names;
  ``missing_nhs_number`` and ``duplicate`` as ``mocks.linkage`` derives them), as in *pairwise*.
- *CPU*: the matcher's own CPU per full profile: each child's comparisons as the gateway makes them
  (police and housing searched always; education, social care and youth justice only when the
  NHS-number lookup finds nothing), timed over every child with ``time.process_time``; the median of
  three runs. Today's matcher is timed on the same comparisons.

**Estimate.** ``--estimate`` counts comparison levels on a separate population (100,000 children,
seed 7, so that the figures above are not measured on the pairs the weights were counted on) and
writes ``gateway/pipeline/linkage/weights.yaml`` through ``estimate_weights``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.pipeline.link import RuleMatcher
from gateway.pipeline.linkage import FellegiSunterMatcher, NameAliases, Person, compare, load_weights, prepare
from gateway.pipeline.linkage.comparisons import dob_level, surname_level
from gateway.pipeline.linkage.estimate import LevelCounts, estimate_weights, term_frequencies
from gateway.pipeline.linkage.weights import WEIGHTS_FILE, dump_weights
from gateway.pipeline.records import Demographics
from mocks.linkage import (
    DEMOGRAPHIC_AGENCIES,
    Copy,
    SearchIndex,
    agency_copies,
    candidates,
    random_nonmatches,
    same_surname_and_dob,
    spine,
)
from mocks.population import ErrorRates, Population

RESULTS = Path(__file__).with_name("results")
ROOT = RESULTS.parent.parent
LINKED_AGENCIES = tuple(a for a in DEMOGRAPHIC_AGENCIES if a != "health")
KINDS = ("typo", "name_variant", "day_month_swap", "stale_address", "missing_nhs_number", "duplicate")
FALLBACK_ONLY = ("education", "social-care", "youth-justice")  # searched by name only when the NHS lookup finds nothing


def doubled(rates: ErrorRates) -> ErrorRates:
    return ErrorRates(**{f.name: 2 * getattr(rates, f.name) for f in dataclasses.fields(rates)})


def person(copy: Copy, *, nhs: bool = True) -> Person:
    return Person(copy.given, copy.family, copy.dob, copy.postcode, copy.gender, copy.nhs_number if nhs else None)


def demographics(copy: Copy) -> Demographics:
    return Demographics(copy.given, copy.family, copy.dob, copy.postcode)


# -- measuring ------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Linked pairs against the truth, for one matcher and one way of linking."""

    true_pairs: int = 0
    linked: int = 0
    linked_true: int = 0
    grades: Counter[str] = field(default_factory=Counter)
    grades_wrong: Counter[str] = field(default_factory=Counter)
    kind_true: Counter[str] = field(default_factory=Counter)
    kind_linked: Counter[str] = field(default_factory=Counter)

    def link(self, grade: str | None, is_match: bool) -> None:
        if grade is None:
            return
        self.linked += 1
        self.linked_true += is_match
        self.grades[grade] += 1
        self.grades_wrong[grade] += not is_match

    def figures(self) -> dict[str, Any]:
        return {
            "true_pairs": self.true_pairs,
            "linked": self.linked,
            "precision": round(self.linked_true / self.linked, 5) if self.linked else None,
            "recall": round(self.linked_true / self.true_pairs, 5) if self.true_pairs else None,
            "grades": {g: {"linked": self.grades[g], "wrong": self.grades_wrong[g]} for g in sorted(self.grades)},
            "recall_by_kind": {
                k: {"true_pairs": self.kind_true[k], "recall": round(self.kind_linked[k] / self.kind_true[k], 4)}
                for k in KINDS
                if self.kind_true[k]
            },
        }


def evaluate(pop: Population, fs: FellegiSunterMatcher, rule: RuleMatcher) -> dict[str, Any]:
    copies = agency_copies(pop)
    index = SearchIndex(copies)
    spines = {c.owner: c for c in copies if c.agency == "health"}
    true_pairs = [c for c in copies if c.agency in LINKED_AGENCIES]
    pairwise = {"fellegi-sunter": Tally(), "rule": Tally()}
    deployed = {"fellegi-sunter": Tally(), "rule": Tally()}
    for t in (*pairwise.values(), *deployed.values()):
        t.true_pairs = len(true_pairs)
    found: dict[tuple[int, str, str], bool] = {}  # (child, agency, record) -> graded by FS (pairwise), for kinds
    found_rule: dict[tuple[int, str, str], bool] = {}
    reachable = {"surname_dob": 0, "with_swapped_date": 0}
    for cand in candidates(pop, index, LINKED_AGENCIES):
        child, copy = spines[cand.child], cand.copy
        key = (cand.child, copy.agency, copy.record_id)
        if cand.is_match:
            reachable["with_swapped_date"] += 1
            reachable["surname_dob"] += not cand.by_swapped_date
        # pairwise: names, dates and postcodes only
        g_fs = fs.match(person(child, nhs=False), person(copy, nhs=False)).grade
        g_rule = rule.grade(demographics(child), demographics(copy))
        pairwise["fellegi-sunter"].link(g_fs, cand.is_match)
        pairwise["rule"].link(g_rule, cand.is_match)
        if cand.is_match:
            found[key] = g_fs is not None
            found_rule[key] = g_rule is not None
        # as deployed: a record carrying the child's valid NHS number was linked by it already
        if copy.nhs_number and copy.nhs_number == child.nhs_number:
            continue
        d_fs = fs.match(person(child), person(copy)).grade
        deployed["fellegi-sunter"].link(d_fs, cand.is_match)
        deployed["rule"].link(g_rule, cand.is_match)
    for copy in true_pairs:
        if copy.nhs_number and copy.nhs_number == spines[copy.owner].nhs_number:
            for t in deployed.values():
                t.link("certain", True)
        key = (copy.owner, copy.agency, copy.record_id)
        for name, links in (("fellegi-sunter", found), ("rule", found_rule)):
            t = pairwise[name]
            for kind in copy.errors:
                t.kind_true[kind] += 1
                t.kind_linked[kind] += links.get(key, False)
    return {
        "children": len(pop.children),
        "blocking_recall": {k: round(v / len(true_pairs), 5) for k, v in reachable.items()},
        "pairwise": {k: v.figures() for k, v in pairwise.items()},
        "as_deployed": {k: v.figures() for k, v in deployed.items()},
    }


def profile_comparisons(pop: Population) -> list[list[tuple[Copy, Copy]]]:
    """Each child's (spine, candidate) comparisons in a full profile, as the gateway makes them today."""
    copies = agency_copies(pop)
    index = SearchIndex(copies)
    by_nhs: dict[tuple[str, str], int] = Counter(
        (c.agency, c.nhs_number) for c in copies if c.nhs_number and c.agency != "health"
    )
    out: list[list[tuple[Copy, Copy]]] = []
    for child in pop.children:
        me = spine(pop, child)
        todo: list[tuple[Copy, Copy]] = []
        for agency in LINKED_AGENCIES:
            if agency in FALLBACK_ONLY and by_nhs.get((agency, child.nhs_number)):
                continue
            todo.extend((me, c) for c in index.search(agency, child.family, child.dob))
        out.append(todo)
    return out


def cpu_per_profile(pop: Population, fs: FellegiSunterMatcher, rule: RuleMatcher, runs: int = 3) -> dict[str, Any]:
    profiles = profile_comparisons(pop)
    as_people = [[(person(a), person(b)) for a, b in p] for p in profiles]
    as_demo = [[(demographics(a), demographics(b)) for a, b in p] for p in profiles]
    comparisons = [len(p) for p in profiles]

    def timed(fn: Any, data: Iterable[list[tuple[Any, Any]]]) -> float:
        data = list(data)
        samples = []
        for _ in range(runs):
            start = time.process_time()
            for todo in data:
                for a, b in todo:
                    fn(a, b)
            samples.append((time.process_time() - start) / len(data) * 1000)
        return statistics.median(samples)

    fs_ms = timed(fs.match, as_people)
    rule_ms = timed(rule.grade, as_demo)
    total = sum(comparisons)
    return {
        "profiles": len(profiles),
        "comparisons_per_profile": round(total / len(profiles), 3),
        "max_comparisons": max(comparisons),
        "fellegi_sunter_ms_per_profile": round(fs_ms, 4),
        "rule_ms_per_profile": round(rule_ms, 4),
        "added_ms_per_profile": round(fs_ms - rule_ms, 4),
        "fellegi_sunter_us_per_comparison": round(fs_ms * 1000 * len(profiles) / total, 2) if total else None,
    }


def measure(args: argparse.Namespace) -> None:
    weights, aliases = load_weights(args.weights), NameAliases.load()
    rule = RuleMatcher()
    runs: list[dict[str, Any]] = []
    for children in args.children:
        # As a deployment would: the prior is set to the number of children the agencies serve.
        fs = FellegiSunterMatcher(weights, aliases, children=children)
        for label, rates in (("default", ErrorRates()), ("double", doubled(ErrorRates()))):
            started = time.perf_counter()
            pop = Population.generate(children, args.seed, rates)
            result = {"rates": label, **evaluate(pop, fs, rule)}
            if label == "default":
                result["cpu"] = cpu_per_profile(pop, fs, rule)
            result["seconds"] = round(time.perf_counter() - started, 1)
            runs.append(result)
            report(result)
    out = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "weights": {"file": shown(args.weights), **weights.provenance},
        "seed": args.seed,
        "results": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {shown(args.out)}")


def shown(path: Path) -> str:
    """A path as the results file records it: relative to the repository when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)


def report(r: dict[str, Any]) -> None:
    print(f"\n== {r['children']:,} children, {r['rates']} error rates ({r['seconds']} s)")
    print(f"   blocking recall: {r['blocking_recall']}")
    for view in ("pairwise", "as_deployed"):
        for name, f in r[view].items():
            print(
                f"   {view:12} {name:15} precision {f['precision']}  recall {f['recall']}  "
                f"linked {f['linked']} of {f['true_pairs']} true  grades {f['grades']}"
            )
    fs, rule = r["pairwise"]["fellegi-sunter"]["recall_by_kind"], r["pairwise"]["rule"]["recall_by_kind"]
    for kind, f in fs.items():
        print(f"   recall {kind:20} n={f['true_pairs']:6}  FS {f['recall']:.4f}  rule {rule[kind]['recall']:.4f}")
    if "cpu" in r:
        print(f"   cpu: {r['cpu']}")


# -- estimating -------------------------------------------------------------------------------------------


def estimate(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    pop = Population.generate(args.estimate_children, args.estimate_seed)
    aliases = NameAliases.load()
    copies = agency_copies(pop)
    index = SearchIndex(copies)
    prepared = {id(c): prepare(person(c, nhs=False)) for c in copies}
    spines = {c.owner: prepared[id(c)] for c in copies if c.agency == "health"}
    matches, candidate_counts, random_counts = LevelCounts(), LevelCounts(), LevelCounts()
    for c in copies:
        if c.agency != "health":
            matches.add(compare(spines[c.owner], prepared[id(c)], aliases))
    households = [c.household_ref for c in pop.children]
    for cand in candidates(pop, index, DEMOGRAPHIC_AGENCIES):
        # Namesakes only: a candidate from the child's own household is its twin, a class of its own.
        if not cand.is_match and households[cand.child] != households[cand.copy.owner]:
            candidate_counts.add(compare(spines[cand.child], prepared[id(cand.copy)], aliases))
    for child, copy in random_nonmatches(pop, copies, args.random_pairs, args.estimate_seed):
        a, b = spines[child.index], prepared[id(copy)]
        random_counts.add({"surname": surname_level(a, b), "dob": dob_level(a.dob, b.dob)}, only=("surname", "dob"))
    namesakes, twins = same_surname_and_dob(pop)
    weights = estimate_weights(
        matches=matches,
        candidates=candidate_counts,
        random_pairs=random_counts,
        tf={
            "forename": term_frequencies(p.forename for p in spines.values()),
            "surname": term_frequencies(p.family for p in spines.values()),
        },
        children=len(pop.children),
        twins_per_child=twins,
        provenance={
            "command": "python -m bench.linkage --estimate",
            "population": {"children": len(pop.children), "seed": args.estimate_seed, "rates": "default"},
            "pairs": {
                "matches": matches.pairs,
                "candidate_nonmatches": candidate_counts.pairs,
                "random_nonmatches": random_counts.pairs,
            },
            "namesakes_per_child": round(namesakes, 5),
            "twins_per_child": round(twins, 5),
        },
    )
    args.weights.write_text(dump_weights(weights))
    print(f"{matches.pairs} true pairs, {candidate_counts.pairs} candidate non-matches, {random_counts.pairs} random")
    print(f"per child: namesakes {namesakes:.4f}, twins {twins:.5f} (used: {weights.twins_per_child})")
    for name, comparison in weights.comparisons.items():
        print(f"  {name:10} " + "  ".join(f"{lv.name} {lv.weight:+.2f}" for lv in comparison.levels))
    print(f"written to {args.weights} in {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.linkage", description=__doc__.split("\n\n")[0])
    ap.add_argument("--estimate", action="store_true", help="estimate the weights file instead of measuring")
    ap.add_argument("--children", type=lambda s: [int(x) for x in s.split(",")], default=[3000, 100_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "linkage.json")
    ap.add_argument("--estimate-children", type=int, default=100_000)
    ap.add_argument("--estimate-seed", type=int, default=7)
    ap.add_argument("--random-pairs", type=int, default=1_000_000)
    ap.add_argument("--weights", type=Path, default=WEIGHTS_FILE)
    args = ap.parse_args(argv)
    if args.estimate:
        estimate(args)
    else:
        if not args.weights.exists():
            sys.exit(f"{args.weights} does not exist: run python -m bench.linkage --estimate first")
        measure(args)


if __name__ == "__main__":
    main()
