"""Record linkage: is this agency record the child's? Fellegi-Sunter scoring behind the ``Matcher`` seam.

    weights.yaml   m and u per comparison level, term frequencies, grade thresholds (documented inside)
    aliases.yaml   the UK additions to the nickname list, and pairs that are two names
    names.py       folding, placeholders ("Baby"), forename aliases
    comparisons.py the comparison levels, and a pair's agreement pattern
    weights.py     reading and writing the weights file
    estimate.py    m and u from pairs labelled with the ground truth (run by ``python -m bench.linkage --estimate``)
    matcher.py     FellegiSunterMatcher: grade, score and pattern of one candidate

Usage::

    matcher = FellegiSunterMatcher(load_weights(), NameAliases.load())   # once, at start-up
    match = matcher.match(child, candidate)                               # two Person records
    match.grade, match.probability, match.pattern

How records link in a running gateway is counted by :class:`gateway.pipeline.link.Linker` in the
metrics (``wardgate_link_records_total``), which ``wardgate quality`` reads.

Nothing here keeps state between calls: a candidate's grade depends on its record and the child's,
and on the weights file, never on other records or other requests.
"""

from gateway.pipeline.linkage.comparisons import LEVELS, Person, compare, person_from_demographics, prepare
from gateway.pipeline.linkage.matcher import FellegiSunterMatcher, Match, probability_of
from gateway.pipeline.linkage.names import NameAliases
from gateway.pipeline.linkage.weights import Weights, load_weights

__all__ = [
    "LEVELS",
    "FellegiSunterMatcher",
    "Match",
    "NameAliases",
    "Person",
    "Weights",
    "compare",
    "load_weights",
    "person_from_demographics",
    "prepare",
    "probability_of",
]
