"""Estimating the weights file from record pairs labelled with the ground truth.

``python -m bench.linkage --estimate`` builds the pairs from the mocks' population and calls
:func:`estimate_weights`, which counts each comparison's levels on three kinds of pair:

- **matches**: every agency copy of a child beside the child's GP record. They give **m**.
- **candidate non-matches**: different children that the agencies' searches return together (same
  surname and date of birth, or that date with day and month swapped). They give **u** for the fields
  the searches do not select on (forename, postcode, gender): among the children a search returns,
  how often those fields agree by chance is exactly what the matcher must see through.
- **random non-matches**: different children picked at random. They give **u** for surname and date of
  birth: a search selects on them, so among its results they always agree; their evidence is how
  rarely two children picked at random agree on them.

A level seen fewer than :data:`MIN_OBSERVATIONS` times keeps the documented value in :data:`PRIORS`
(the mocks never write a surname differently, for instance), and the levels that were counted are
rescaled so that each comparison's m (and u) still sum to one.

**Twins** share a surname, a date of birth and an address, and hardly ever a forename: the namesakes the
searches return are nothing like them, and counting both as one kind of non-match would make a shared
postcode weak evidence for everyone. So twins are a class of their own: each level also has **t**,
P(level | the child's twin), and the matcher weighs the chance that a candidate is the child's twin
beside the chance that it is someone else (see ``matcher.py``). Candidates from the child's own
household are kept out of the namesake counts. For surname, date of birth, postcode and name order a
twin's record is written like the child's own, so t = m; for the forename, t is the namesakes' u with
exact agreement taken out (:data:`TWIN_SAME_FORENAME`); for gender, :data:`TWIN_SAME_SEX`. How many
twins a child has is the population's own rate, or :data:`TWIN_RATE` where the population has fewer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigError
from gateway.pipeline.linkage.comparisons import LEVELS, TF_LEVELS
from gateway.pipeline.linkage.weights import Comparison, Level, TermFrequencies, Thresholds, Weights

MIN_OBSERVATIONS = 10
"""Fewer observations of a level than this, and its m (or u) is the prior instead of the count."""

TWIN_RATE = 0.03
"""Twins per child: about 1 in 65 maternities in England and Wales is a multiple birth (ONS, births by
multiplicity), and each gives two or more children who have a twin."""

TWIN_SAME_FORENAME = 0.001
"""P(exact forename | twins): parents do not give twins one name; what is left is recording error."""

TWIN_SAME_SEX = 2 / 3
"""P(same gender | twins): identical twins (about a third) always, non-identical twins half the time."""

TF_FLOOR = 1e-4
"""No name counts as rarer than 1 in 10,000 children, however rare it was in the counts."""

GRADE_PROBABILITIES = Thresholds(certain=0.999, probable=0.99, possible=0.9)
"""Match probability each grade needs. Certain: at most about 1 wrong link in 1,000 is expected
(a certain match shows case data); probable: 1 in 100; possible: 1 in 10, shown only with a warning."""

BOUNDS: tuple[tuple[str, str, str, str], ...] = (
    ("postcode", "sector", "full", "else"),
    ("postcode", "district", "sector", "else"),
    *(("forename", level, "exact", "else") for level in ("nickname", "typo", "phonetic", "initial")),
    *(("surname", level, "exact", "else") for level in ("part", "typo", "phonetic")),
    *(("dob", level, "exact", "else") for level in ("swapped", "one-digit", "within-month")),
)
"""(comparison, level, a level it may not outweigh, a level it may not weigh less than), in order.
Partial agreement is never stronger evidence than fuller agreement, nor weaker than none, even where
the counts say so: the mocks' name lists hold so few near-spellings that two different children at
the typo level are rarer than two with one name, and the mocks move a family to a random address,
never nearby. The bounded level's u is moved until its weight meets the bound."""

U_FROM: dict[str, str] = {
    "name_order": "fixed",
    "forename": "candidates",
    "surname": "random-pairs",
    "dob": "random-pairs",
    "postcode": "candidates",
    "gender": "candidates",
}


@dataclass(frozen=True, slots=True)
class Prior:
    m: float
    u: float
    why: str


PRIORS: dict[str, dict[str, Prior]] = {
    "name_order": {
        "as-recorded": Prior(0.995, 1.0, "the rest of m; u = 1: a transformation, see the weights file"),
        "reversed": Prior(0.005, 1.0, "forename and surname swapped in about 1 record in 200 (an assumption)"),
    },
    "forename": {
        "exact": Prior(0.95, 0.01, "fallback only: always counted"),
        "nickname": Prior(0.01, 0.002, "fallback only"),
        "typo": Prior(0.01, 0.002, "fallback only"),
        "phonetic": Prior(0.004, 0.005, "a spelling that sounds the same (Cathryn/Kathryn) beyond a typo"),
        "initial": Prior(0.002, 0.0002, "an initial for the forename; initials of different children agree 1 in 10"),
        "else": Prior(0.003, 0.97, "a different forename for the same child: known by a middle name, renamed"),
    },
    "surname": {
        "exact": Prior(0.96, 0.01, "fallback only: always counted"),
        "part": Prior(0.01, 0.0005, "one part of a double-barrelled surname recorded alone"),
        "typo": Prior(0.01, 0.002, "a misspelt surname (the mocks never misspell one)"),
        "phonetic": Prior(0.003, 0.004, "a surname spelt as it sounds"),
        "else": Prior(0.015, 0.97, "surname changed: adoption, care, a parent's new partner"),
    },
    "dob": {
        "exact": Prior(0.97, 0.0002, "fallback only: always counted"),
        "swapped": Prior(0.005, 0.0001, "fallback only"),
        "one-digit": Prior(0.01, 0.002, "one digit mistyped or two neighbouring digits transposed"),
        "within-month": Prior(0.003, 0.01, "a date entered from memory or an estimate"),
        "else": Prior(0.01, 0.99, "a different date altogether"),
    },
    "postcode": {
        "full": Prior(
            0.9,
            0.001,
            "u: namesakes from other households never share a postcode in the mocks; a postcode holds about "
            "15 households, so 1 in 1,000 (relatives on one street) is an assumption",
        ),
        "sector": Prior(0.01, 0.005, "a move nearby"),
        "district": Prior(0.02, 0.05, "a move within the district"),
        "else": Prior(0.07, 0.94, "fallback only: stale addresses are counted"),
    },
    "gender": {
        "agree": Prior(0.995, 0.5, "m: the mocks record gender only at the GP, so it is never seen to differ"),
        "differ": Prior(0.005, 0.5, "gender recorded differently for the same child (error or change)"),
    },
}
"""m and u of every non-null level, used when the counts are too few (see the module docstring)."""


class LevelCounts:
    """How often each comparison reached each level, over one kind of pair."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {name: Counter() for name in LEVELS}
        self.pairs = 0

    def add(self, pattern: Mapping[str, str], only: Iterable[str] | None = None) -> None:
        """Count one pair's pattern (only the named comparisons, if given)."""
        self.pairs += 1
        for name in only if only is not None else LEVELS:
            self.counts[name][pattern[name]] += 1


def term_frequencies(values: Iterable[str], *, floor: float = TF_FLOOR) -> TermFrequencies:
    """Each value's share of the values given (the children's folded names), the rarest for unseen ones."""
    counts = Counter(v for v in values if v)
    total = sum(counts.values())
    if not total:
        raise ConfigError("no names to count term frequencies from")
    table = {v: n / total for v, n in counts.items()}
    return TermFrequencies(table, floor, min(table.values()))


def _side(counts: Counter[str], levels: tuple[str, ...], priors: Mapping[str, float]) -> dict[str, tuple[float, bool]]:
    """Each non-null level's probability and whether it was counted (else the prior, rescaled around)."""
    real = [lv for lv in levels if lv != "null"]
    total = sum(counts[lv] for lv in real)
    counted = {lv: counts[lv] / total for lv in real if counts[lv] >= MIN_OBSERVATIONS}
    fixed = {lv: priors[lv] for lv in real if lv not in counted}
    if not counted:
        return {lv: (fixed[lv], False) for lv in real}
    room = 1.0 - sum(fixed.values())
    if room <= 0:
        raise ConfigError(f"priors of {sorted(fixed)} leave no probability for the counted levels")
    scale = room / sum(counted.values())
    return {lv: ((counted[lv] * scale, True) if lv in counted else (fixed[lv], False)) for lv in real}


def _bits(m_side: dict[str, tuple[float, bool]], u_side: dict[str, tuple[float, bool]], level: str) -> float:
    return math.log2(m_side[level][0] / u_side[level][0])


_SOURCE = {(True, True): "estimated", (True, False): "m-estimated", (False, True): "u-estimated"}


def twin_levels(name: str, m: Mapping[str, float], u: Mapping[str, float]) -> dict[str, float]:
    """P(level | the child's twin) for one comparison, from its m and (namesakes') u: see the module docstring."""
    if name == "forename":
        rest = {lv: p for lv, p in u.items() if lv != "exact"}
        scale = (1 - TWIN_SAME_FORENAME) / sum(rest.values())
        return {"exact": TWIN_SAME_FORENAME, **{lv: p * scale for lv, p in rest.items()}}
    if name == "gender":
        return {"agree": TWIN_SAME_SEX, "differ": 1 - TWIN_SAME_SEX}
    return dict(m)


def estimate_weights(
    *,
    matches: LevelCounts,
    candidates: LevelCounts,
    random_pairs: LevelCounts,
    tf: Mapping[str, TermFrequencies],
    children: int,
    twins_per_child: float = 0.0,
    thresholds: Thresholds = GRADE_PROBABILITIES,
    provenance: Mapping[str, Any] | None = None,
) -> Weights:
    """m, u and t per level from the three kinds of counts.

    ``candidates`` must hold only namesakes (no candidate from the child's household);
    ``twins_per_child`` is the population's own rate, raised to :data:`TWIN_RATE` if below it.
    """
    comparisons: dict[str, Comparison] = {}
    for name, levels in LEVELS.items():
        priors = PRIORS[name]
        m_side = _side(matches.counts[name], levels, {lv: p.m for lv, p in priors.items()})
        u_from = U_FROM[name]
        if u_from == "fixed":
            u_side = {lv: (p.u, False) for lv, p in priors.items()}
            u_counts: Counter[str] = Counter()
        else:
            u_counts = (candidates if u_from == "candidates" else random_pairs).counts[name]
            u_side = _side(u_counts, levels, {lv: p.u for lv, p in priors.items()})
        t_side = twin_levels(name, {lv: m for lv, (m, _) in m_side.items()}, {lv: u for lv, (u, _) in u_side.items()})
        for _, lv, above, below in (b for b in BOUNDS if b[0] == name):
            (m, _), (u, u_counted) = m_side[lv], u_side[lv]
            bits = min(math.log2(m / u), _bits(m_side, u_side, above))
            bits = max(bits, _bits(m_side, u_side, below))
            u_side[lv] = (m / 2**bits, u_counted)
        built: list[Level] = []
        for lv in levels:
            if lv == "null":
                built.append(Level("null"))
                continue
            (m, m_counted), (u, u_counted) = m_side[lv], u_side[lv]
            built.append(
                Level(
                    lv,
                    m,
                    u,
                    _SOURCE.get((m_counted, u_counted), "prior"),
                    matches.counts[name][lv],
                    u_counts[lv],
                    TF_LEVELS.get(name) == lv,
                    t_side[lv],
                )
            )
        comparisons[name] = Comparison(name, u_from, tuple(built))
    twins = max(twins_per_child, TWIN_RATE)
    return Weights(children, thresholds, comparisons, dict(tf), twins, dict(provenance or {}))
