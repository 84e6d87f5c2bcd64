"""The linkage weights file: m and u per comparison level, term frequencies, grade thresholds.

``weights.yaml`` beside this module is written by ``python -m bench.linkage --estimate`` (see
:mod:`.estimate`) and read once at start-up by :func:`load_weights`, which refuses a file that does
not name exactly the comparisons and levels the code tests (:data:`.comparisons.LEVELS`). Its header
documents every field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigError
from gateway.pipeline.linkage.comparisons import LEVELS, TF_LEVELS
from gateway.types import MatchGrade

WEIGHTS_FILE = Path(__file__).with_name("weights.yaml")
GRADES: tuple[MatchGrade, ...] = ("certain", "probable", "possible")


@dataclass(frozen=True, slots=True)
class Level:
    """One comparison level: how likely it is for the same child (m) and for two different children (u)."""

    name: str
    m: float | None = None  # None only for the null level: no evidence
    u: float | None = None
    source: str = "null"  # estimated | prior | null
    n_match: int = 0  # observations behind m (true pairs at this level)
    n_nonmatch: int = 0  # observations behind u
    tf: bool = False  # u is the agreed value's term frequency instead
    t: float | None = None  # P(level | the child's twin)

    @property
    def weight(self) -> float:
        """Bits of evidence: log2(m / u); 0 for the null level."""
        if self.m is None or self.u is None:
            return 0.0
        return math.log2(self.m / self.u)


@dataclass(frozen=True, slots=True)
class Comparison:
    name: str
    u_from: str  # candidates | random-pairs | fixed: which non-matching pairs u was counted on
    levels: tuple[Level, ...]

    def level(self, name: str) -> Level:
        return next(lv for lv in self.levels if lv.name == name)


@dataclass(frozen=True, slots=True)
class TermFrequencies:
    """How common each value is among children; the u of an exact agreement on that value."""

    table: Mapping[str, float]
    floor: float  # no value is treated as rarer than this
    unseen: float  # a value not in the table is treated as this common

    def of(self, value: str) -> float:
        return max(self.table.get(value, self.unseen), self.floor)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The match probability a candidate needs for each grade; below ``possible`` it is not linked."""

    certain: float
    probable: float
    possible: float

    def bits(self) -> dict[str, float]:
        """Each grade's threshold as a match weight (log2 odds)."""
        probabilities = (self.certain, self.probable, self.possible)
        return {g: math.log2(p / (1 - p)) for g, p in zip(GRADES, probabilities, strict=True)}


@dataclass(frozen=True, slots=True)
class Weights:
    """Everything a Fellegi-Sunter score needs: see ``weights.yaml`` for each field's meaning."""

    children: int
    thresholds: Thresholds
    comparisons: Mapping[str, Comparison]
    term_frequencies: Mapping[str, TermFrequencies]
    twins_per_child: float
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prior(self) -> float:
        """log2 odds that two records picked at random are the same child: 1 in (children - 1)."""
        return prior_bits(self.children)


def prior_bits(children: int) -> float:
    return -math.log2(children - 1)


def _number(value: Any, where: str, *, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise ConfigError(f"{where}: {value!r} is not a number in ({low}, {high}]")
    return float(value)


def _level(raw: Any, comparison: str, name: str) -> Level:
    where = f"comparisons.{comparison}.{name}"
    if not isinstance(raw, dict) or raw.get("level") != name:
        raise ConfigError(f"{where}: expected the level {name!r} here (levels are tested in a fixed order)")
    if name == "null":
        return Level(name)
    tf = bool(raw.get("tf", False))
    if tf != (TF_LEVELS.get(comparison) == name):
        raise ConfigError(f"{where}: tf must be {not tf}")
    return Level(
        name,
        _number(raw.get("m"), f"{where}.m"),
        _number(raw.get("u"), f"{where}.u"),
        str(raw.get("source", "")),
        int(raw.get("n_match", 0)),
        int(raw.get("n_nonmatch", 0)),
        tf,
        _number(raw.get("t"), f"{where}.t"),
    )


def parse_weights(raw: Any, source: str = "weights") -> Weights:
    """Check and read a weights document (the parsed YAML)."""
    try:
        if not isinstance(raw, dict):
            raise ConfigError("not a mapping")
        children = int(raw["children"])
        if children < 2:
            raise ConfigError("children must be at least 2")
        th = raw["thresholds"]
        thresholds = Thresholds(*(_number(th[g], f"thresholds.{g}", high=0.999999) for g in GRADES))
        if not thresholds.certain > thresholds.probable > thresholds.possible:
            raise ConfigError("thresholds must rise from possible to probable to certain")
        comparisons: dict[str, Comparison] = {}
        for name, levels in LEVELS.items():
            spec = raw["comparisons"][name]
            given = spec["levels"]
            if [lv.get("level") for lv in given] != list(levels):
                raise ConfigError(f"comparisons.{name}: levels must be {', '.join(levels)}, in that order")
            comparisons[name] = Comparison(
                name, str(spec["u_from"]), tuple(_level(r, name, n) for r, n in zip(given, levels, strict=True))
            )
        extra = set(raw["comparisons"]) - set(LEVELS)
        if extra:
            raise ConfigError(f"unknown comparisons: {', '.join(sorted(extra))}")
        tfs: dict[str, TermFrequencies] = {}
        for name in TF_LEVELS:
            spec = raw["term_frequencies"][name]
            table = {str(k): _number(v, f"term_frequencies.{name}.{k}") for k, v in spec["table"].items()}
            tfs[name] = TermFrequencies(
                table,
                _number(spec["floor"], f"term_frequencies.{name}.floor"),
                _number(spec["unseen"], f"term_frequencies.{name}.unseen"),
            )
        twins = _number(raw["twins_per_child"], "twins_per_child")
        provenance = raw.get("estimated_from") or {}
        return Weights(children, thresholds, comparisons, tfs, twins, dict(provenance))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: missing or malformed {exc}") from exc


def load_weights(path: Path = WEIGHTS_FILE) -> Weights:
    """Read and check the weights file; :class:`~gateway.errors.ConfigError` if it cannot be used."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_weights(raw, str(path))


HEADER = """\
# Record linkage weights (Fellegi-Sunter), read by gateway/pipeline/linkage at start-up.
# Written by `python -m bench.linkage --estimate`: re-estimate rather than edit by hand.
#
# A candidate record is compared with the child field by field (comparisons.py); each comparison lands
# on one level. Its match weight, in bits, is
#     prior + sum over comparisons of log2(m / u) at the level reached + twin
# and its match probability is 2^weight / (1 + 2^weight), which decides the grade. `twin` (zero or
# less) weighs the chance that the candidate is the child's twin, who shares surname, date of birth and
# address but not the forename: twin = -log2(1 + twins_per_child / (children - 1) * product of t / u).
#
# estimated_from   the synthetic population and pairs these numbers were counted on.
# children         how many children the agencies hold records of. The prior, log2(1 / (children - 1)), is
#                  the log odds that two records picked at random are the same child. Set it to the area's
#                  child population (FellegiSunterMatcher(children=...) overrides it).
# twins_per_child  other children per child who are its twin (the population's own rate, or a documented
#                  prior where the population has fewer: see estimate.py).
# thresholds       the match probability a candidate needs to be graded certain, probable or possible
#                  (FHIR's match-grade names); below `possible` it is not linked.
# comparisons      per field, `u_from` and its levels in the order they are tested:
#   u_from         where u was counted: `candidates` (different children, not of one household, that the
#                  agencies' searches return together: same surname and date of birth, or that date with day
#                  and month swapped), `random-pairs` (different children picked at random; for the fields
#                  the searches select on), or `fixed` (name_order: see below).
#   level          the level's name; `null` (a side has no value) carries no evidence and no m, u or t.
#   m              P(level | same child), counted on every true pair of an agency copy and the GP record.
#   u              P(level | different children), counted as u_from says.
#   t              P(level | the child's twin): m for surname, date of birth, postcode and name order (a
#                  twin's record is written like the child's own); for forename and gender see estimate.py.
#   weight         log2(m / u), for the reader; the scorer recomputes it from m and u.
#   source         which of m and u were counted: `estimated` (both), `m-estimated` or `u-estimated` (that
#                  one; the other is the documented prior in estimate.py, PRIORS), or `prior` (neither): a
#                  level seen fewer than 10 times keeps its prior (the mocks never misspell a surname, say).
#                  Where partial agreement would outweigh full agreement (or weigh less than none) u is
#                  moved to meet that bound (estimate.py, BOUNDS).
#   n_match, n_nonmatch  the observations behind m and u.
#   tf             on an exact name level: u is the agreed name's term frequency instead, so a common name
#                  is weaker evidence than a rare one.
#   name_order     `reversed` is a transformation, not an observation: its weight is log2(m) alone (u = 1),
#                  because the agreement it reveals is scored by the forename and surname comparisons.
# term_frequencies per name comparison: `table` (each folded name's share of children), `floor` (no name
#                  counts as rarer) and `unseen` (the share assumed for a name not in the table).
"""


def _fmt(x: float) -> str:
    text = f"{x:.6g}"
    mantissa, e, exponent = text.partition("e")
    # YAML 1.1 (PyYAML) reads 8e-05 as a string: its floats need a point in the mantissa.
    return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text


def dump_weights(weights: Weights) -> str:
    """The weights as the documented YAML file (the header above, then the numbers)."""
    lines = [HEADER, "version: 1"]
    lines.append("estimated_from:")
    for k, v in weights.provenance.items():
        lines.append(f"  {k}: {_fmt(v) if isinstance(v, float) else json.dumps(v)}")  # JSON is YAML in flow style
    lines.append(f"children: {weights.children}")
    lines.append(f"twins_per_child: {_fmt(weights.twins_per_child)}")
    t = weights.thresholds
    lines.append(
        f"thresholds: {{certain: {_fmt(t.certain)}, probable: {_fmt(t.probable)}, possible: {_fmt(t.possible)}}}"
    )
    lines.append("comparisons:")
    for name, comparison in weights.comparisons.items():
        lines.append(f"  {name}:")
        lines.append(f"    u_from: {comparison.u_from}")
        lines.append("    levels:")
        for lv in comparison.levels:
            if lv.m is None or lv.u is None:
                lines.append(f'      - {{level: "{lv.name}"}}')
                continue
            tf = ", tf: true" if lv.tf else ""
            twin = "" if lv.t is None else f", t: {_fmt(lv.t)}"
            lines.append(
                f"      - {{level: {lv.name}, m: {_fmt(lv.m)}, u: {_fmt(lv.u)}{twin}, weight: {lv.weight:.2f}{tf}, "
                f"source: {lv.source}, n_match: {lv.n_match}, n_nonmatch: {lv.n_nonmatch}}}"
            )
    lines.append("term_frequencies:")
    for name, tfs in weights.term_frequencies.items():
        lines.append(f"  {name}:")
        lines.append(f"    floor: {_fmt(tfs.floor)}")
        lines.append(f"    unseen: {_fmt(tfs.unseen)}")
        lines.append("    table:")
        for value, share in sorted(tfs.table.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"      {json.dumps(value)}: {_fmt(share)}")  # quoted: a name such as "No" stays a name
    return "\n".join(lines) + "\n"
