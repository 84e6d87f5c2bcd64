"""Estimating the weights: counted where the population shows enough, the documented prior where not."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from bench.linkage import main as bench_main
from gateway.pipeline.linkage.comparisons import LEVELS
from gateway.pipeline.linkage.estimate import (
    MIN_OBSERVATIONS,
    PRIORS,
    TWIN_RATE,
    TWIN_SAME_FORENAME,
    LevelCounts,
    estimate_weights,
    term_frequencies,
)
from gateway.pipeline.linkage.weights import load_weights

TF = {"forename": term_frequencies(["amelia", "amelia", "noah"]), "surname": term_frequencies(["hughes"])}


def counts(per_comparison: dict[str, dict[str, int]], *, same: bool) -> LevelCounts:
    """Level counts; a comparison not given is all agreement (``same``) or all disagreement."""
    out = LevelCounts()
    for name, levels in LEVELS.items():
        bulk = levels[0] if name == "name_order" else levels[1] if same else levels[-1]
        out.counts[name] = Counter(per_comparison.get(name, {bulk: 1000}))
    return out


def matches(per_comparison: dict[str, dict[str, int]] | None = None) -> LevelCounts:
    return counts(per_comparison or {}, same=True)


def nonmatches(per_comparison: dict[str, dict[str, int]] | None = None) -> LevelCounts:
    return counts(per_comparison or {}, same=False)


def test_levels_seen_enough_are_counted_the_rest_keep_their_prior_and_m_still_sums_to_one() -> None:
    counted = matches({"forename": {"exact": 900, "nickname": 60, "typo": 40, "phonetic": MIN_OBSERVATIONS - 1}})
    weights = estimate_weights(
        matches=counted, candidates=nonmatches(), random_pairs=nonmatches(), tf=TF, children=1000
    )
    forename = weights.comparisons["forename"]
    assert forename.level("phonetic").m == PRIORS["forename"]["phonetic"].m
    assert forename.level("phonetic").source == "prior"
    assert forename.level("exact").source == "m-estimated"  # candidates never agreed on a forename here
    assert math.isclose(sum(lv.m or 0 for lv in forename.levels), 1.0)
    assert forename.level("exact").m / forename.level("nickname").m == pytest.approx(900 / 60)


def test_a_near_spelling_never_outweighs_the_same_spelling() -> None:
    # Among candidates, different children almost never have near-identical names but share a name 1 in 100:
    # counted plainly, a typo would weigh more than an exact agreement.
    counted = matches({"forename": {"exact": 950, "typo": 50}})
    candidates = nonmatches({"forename": {"exact": 100, "typo": 10, "else": 9890}})
    weights = estimate_weights(matches=counted, candidates=candidates, random_pairs=nonmatches(), tf=TF, children=1000)
    forename = weights.comparisons["forename"]
    assert forename.level("typo").weight <= forename.level("exact").weight + 1e-9


def test_twins_are_a_class_of_their_own_at_least_at_the_documented_rate() -> None:
    weights = estimate_weights(
        matches=matches(),
        candidates=nonmatches(),
        random_pairs=nonmatches(),
        tf=TF,
        children=1000,
        twins_per_child=1e-4,
    )
    assert weights.twins_per_child == TWIN_RATE
    # a twin's record is written like the child's own, but twins are not given one forename
    postcode = weights.comparisons["postcode"]
    assert postcode.level("full").t == postcode.level("full").m
    assert weights.comparisons["forename"].level("exact").t == TWIN_SAME_FORENAME


def test_the_estimate_command_writes_a_file_the_gateway_loads(tmp_path: Path) -> None:
    out = tmp_path / "weights.yaml"
    bench_main(["--estimate", "--estimate-children", "1500", "--random-pairs", "20000", "--weights", str(out)])
    weights = load_weights(out)
    assert weights.children == 1500
    assert weights.provenance["population"] == {"children": 1500, "seed": 7, "rates": "default"}
    assert weights.comparisons["dob"].level("exact").source in ("estimated", "m-estimated")
    assert weights.comparisons["dob"].level("exact").n_match > 1000
