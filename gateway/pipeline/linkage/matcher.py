"""The Fellegi-Sunter matcher: a candidate record's grade, score and the agreement pattern behind them.

A valid NHS number on both records decides: the same number is ``certain``, two different valid numbers
are two children. Otherwise the records are compared field by field (:func:`.comparisons.compare`) and
the evidence is added up in bits::

    weight = prior + Σ log2(m / u) at each comparison's level + twin   (u of an exact name: its frequency)
    twin = -log2(1 + twins_per_child / (children - 1) · Π t / u)        (the candidate may be a twin)
    probability = 2^weight / (1 + 2^weight)

and the probability is graded against the weights file's thresholds: ``certain``, ``probable``,
``possible``, or not linked. Usage::

    matcher = FellegiSunterMatcher(load_weights(), NameAliases.load())
    found = matcher.match(Person("Amelia", "Hughes", date(2014, 3, 2), "WG5 3AB"),
                          Person("MILLIE", "HUGHES", date(2014, 3, 2), "WG5 3AB"))
    found.grade, found.probability, found.pattern["forename"]   # "probable", 0.9954, "nickname"

This module depends on ``link.py`` for the :class:`Matcher` seam it implements; ``link.py`` must not
import the linkage package back (the matcher is built at start-up and injected).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from gateway.pipeline.link import Graded, Matcher
from gateway.pipeline.linkage.comparisons import (
    LEVELS,
    TF_LEVELS,
    Person,
    Prepared,
    compare,
    person_from_demographics,
    prepare,
)
from gateway.pipeline.linkage.names import NameAliases
from gateway.pipeline.linkage.weights import GRADES, Weights, prior_bits
from gateway.pipeline.records import Demographics
from gateway.types import MatchGrade

Via = Literal["nhs_number", "score"]


@dataclass(frozen=True, slots=True)
class Match:
    """The outcome of comparing one candidate record with the child.

    ``grade`` is None when the candidate is not linked (FHIR's "certainly-not"). ``pattern`` is each
    comparison's level (plus ``nhs_number``: agree / differ / null); ``contributions`` the bits each
    comparison added to ``weight``, the prior first.
    """

    grade: MatchGrade | None
    probability: float
    weight: float
    via: Via
    pattern: Mapping[str, str]
    contributions: Mapping[str, float] = field(default_factory=dict)


def probability_of(weight: float) -> float:
    """Match probability from a match weight in bits (log2 odds)."""
    if weight > 60:  # beyond a double's precision, and 2^-w would overflow far below it
        return 1.0
    if weight < -60:
        return 0.0
    return 1.0 / (1.0 + math.exp2(-weight))


class FellegiSunterMatcher(Matcher):
    """Probabilistic record linkage behind the :class:`Matcher` seam. Stateless; built once at start-up.

    ``children`` overrides the weights file's population size (the prior): the number of children the
    area's agencies hold records of.
    """

    def __init__(self, weights: Weights, aliases: NameAliases, *, children: int | None = None) -> None:
        self.weights = weights
        self.aliases = aliases
        self.prior = prior_bits(children) if children is not None else weights.prior
        # log2 of the odds that a record picked at random is the child's twin rather than anyone else's
        self.twin_prior = math.log2(weights.twins_per_child) + self.prior
        # Per level, computed once: log2(m / u) and log2(t / u).
        self._bits: dict[str, dict[str, float]] = {}
        self._twin_bits: dict[str, dict[str, float]] = {}
        for name in LEVELS:
            levels = weights.comparisons[name].levels
            self._bits[name] = {lv.name: lv.weight for lv in levels}
            self._twin_bits[name] = {lv.name: _log2_ratio(lv.t, lv.u) for lv in levels}
        self._exact: dict[str, tuple[float, float]] = {}  # m and t of the levels whose u is a term frequency
        for name, level in TF_LEVELS.items():
            lv = weights.comparisons[name].level(level)
            assert lv.m is not None and lv.t is not None  # checked when the file was read
            self._exact[name] = (lv.m, lv.t)
        self._thresholds = weights.thresholds.bits()

    def grade(self, child: Demographics, candidate: Demographics) -> MatchGrade | None:
        return self.match(person_from_demographics(child), person_from_demographics(candidate)).grade

    def assess(self, child: Demographics, candidate: Demographics) -> Graded:
        match = self.match(person_from_demographics(child), person_from_demographics(candidate))
        return Graded(match.grade, round(match.probability, 4), dict(match.pattern))

    def match(self, child: Person, candidate: Person) -> Match:
        """Compare a candidate record with the child's; see the module docstring."""
        return self.match_prepared(prepare(child), prepare(candidate))

    def match_prepared(self, a: Prepared, b: Prepared) -> Match:
        pattern = compare(a, b, self.aliases)
        contributions: dict[str, float] = {"prior": self.prior}
        weight, twin = self.prior, self.twin_prior
        for name, level in pattern.items():
            bits, twin_bits = self._bits[name][level], self._twin_bits[name][level]
            if name in TF_LEVELS and level != "null" and level != "else":
                tf = self.weights.term_frequencies[name]
                m, t = self._exact[name]
                if level == TF_LEVELS[name]:
                    u = tf.of(_name(a, name))
                    bits, twin_bits = math.log2(m / u), math.log2(t / u)
                else:
                    # Partial agreement never counts for more than full agreement on either name would.
                    bits = min(bits, math.log2(m / max(tf.of(_name(a, name)), tf.of(_name(b, name)))))
            contributions[name] = bits
            weight += bits
            twin += twin_bits
        # The candidate may be the child's twin rather than a stranger: the non-match side is the sum of
        # both, so the twin's odds (relative to a stranger's) come off the weight.
        twin_term = -twin if twin > 60 else -math.log2(1.0 + math.exp2(twin))
        contributions["twin"] = twin_term
        weight += twin_term
        probability = probability_of(weight)
        if a.nhs_number and b.nhs_number:
            same = a.nhs_number == b.nhs_number
            pattern["nhs_number"] = "agree" if same else "differ"
            # The NHS number is the child's identifier: the same valid number is the same child, and
            # two different valid numbers are two children, whatever the names say.
            return Match("certain" if same else None, probability, weight, "nhs_number", pattern, contributions)
        pattern["nhs_number"] = "null"
        return Match(self._grade(weight), probability, weight, "score", pattern, contributions)

    def _grade(self, weight: float) -> MatchGrade | None:
        bits = self._thresholds
        for grade in GRADES:
            if weight >= bits[grade]:
                return grade
        return None


def _name(p: Prepared, comparison: str) -> str:
    return p.forename if comparison == "forename" else p.family


def _log2_ratio(t: float | None, u: float | None) -> float:
    return 0.0 if t is None or u is None else math.log2(t / u)
