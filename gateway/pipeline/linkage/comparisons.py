"""Comparison levels: how far two records agree on one field, from exact agreement down to none.

Each comparison tests its levels in the order listed and the first that holds is the pair's level
for that field, as Splink builds comparisons. ``null`` means one side has no value (or a placeholder
such as "Baby"): no evidence either way, weight 0.

=========== =================================================================================
comparison  levels, in order
=========== =================================================================================
name_order  as-recorded · reversed (forename and surname written the wrong way round)
forename    null · exact · nickname · typo · phonetic · initial · else
surname     null · exact · part · typo · phonetic · else
dob         null · exact · swapped · one-digit · within-month · else
postcode    null · full · sector · district · else
gender      null · agree · differ
=========== =================================================================================

- forename: the first forename. *nickname*: one is a short form of the other or both are short
  forms of one name (:class:`~.names.NameAliases`); *typo*: Jaro-Winkler similarity of at least
  :data:`TYPO_SIMILARITY`; *phonetic*: the same Metaphone code; *initial*: one is a single letter
  and it is the other's initial.
- surname: all its words, spaces and hyphens dropped, so "Smith-Jones" is "Smith Jones". *part*: a
  double-barrelled surname recorded in part ("Smith-Jones" and "Jones").
- dob: *swapped*: day and month the other way round (both ≤ 12); *one-digit*: one digit of
  ``YYYY-MM-DD`` wrong, or two neighbouring digits transposed; *within-month*: at most 31 days apart.
- postcode: *sector* is the outward code and the inward code's digit (``WG5 3``), *district* the
  outward code (``WG5``).

The NHS number is not a weighted comparison: a valid one on both sides decides (see the matcher).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import jellyfish
from rapidfuzz.distance import OSA, JaroWinkler

from gateway.identifiers import nhs_number_is_valid
from gateway.pipeline.linkage.names import NameAliases, is_placeholder_forename, is_placeholder_surname, words
from gateway.pipeline.records import Demographics

LEVELS: dict[str, tuple[str, ...]] = {
    "name_order": ("as-recorded", "reversed"),
    "forename": ("null", "exact", "nickname", "typo", "phonetic", "initial", "else"),
    "surname": ("null", "exact", "part", "typo", "phonetic", "else"),
    "dob": ("null", "exact", "swapped", "one-digit", "within-month", "else"),
    "postcode": ("null", "full", "sector", "district", "else"),
    "gender": ("null", "agree", "differ"),
}
"""Every comparison and its levels, in the order they are tested. The weights file must match it."""

TF_LEVELS: dict[str, str] = {"forename": "exact", "surname": "exact"}
"""The levels whose weight is adjusted by how common the agreed value is (term frequency)."""

TYPO_SIMILARITY = 0.92
"""Jaro-Winkler similarity at or above which two names count as one with a slip of the keyboard.
Every adjacent transposition of a name the mocks use scores at least 0.925; the closest pairs of
different names on their lists (Isabella/Isabelle 0.95, Sophia/Sophie 0.93) are nickname-level anyway."""

# Particles that do not identify a family on their own: "De Souza" and "De Silva" share no part.
_PARTICLES = frozenset("van von der den del della de da di du le la al el bin ibn bint st mac mc o".split())
# Genders as agencies write them; "unknown" and anything else not listed count as missing.
_GENDERS = {
    **dict.fromkeys(("f", "female", "girl"), "female"),
    **dict.fromkeys(("m", "male", "boy"), "male"),
    **dict.fromkeys(("o", "other"), "other"),
}


@dataclass(frozen=True, slots=True)
class Person:
    """Who one record says the child is, as recorded. Every field may be missing.

    ``gender`` is as the record writes it ("female", "F", "male"...); "unknown" counts as missing.
    """

    given: str | None = None
    family: str | None = None
    dob: dt.date | None = None
    postcode: str | None = None
    gender: str | None = None
    nhs_number: str | None = None


def person_from_demographics(
    demographics: Demographics, *, gender: str | None = None, nhs_number: str | None = None
) -> Person:
    """The linkage view of a record's :class:`~gateway.pipeline.records.Demographics` (``gender`` and
    ``nhs_number`` replace the record's own, where given)."""
    d = demographics
    return Person(d.given, d.family, d.dob, d.postcode, gender or d.gender, nhs_number or d.nhs_number)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A :class:`Person` normalised once for comparing: folded names, compact postcode, checked NHS number."""

    given_words: tuple[str, ...]
    family_words: tuple[str, ...]
    forename: str  # the first forename; "" when missing or a placeholder
    family: str  # every surname word, joined; "" when missing or a placeholder
    family_parts: frozenset[str]  # the surname's identifying words (double-barrelled: both)
    dob: dt.date | None
    postcode: str  # upper case, no spaces
    gender: str  # female / male / other, or ""
    nhs_number: str  # "" unless ten digits with a valid check digit


def _names(given_words: tuple[str, ...], family_words: tuple[str, ...]) -> tuple[str, str, frozenset[str]]:
    forename = "" if is_placeholder_forename(given_words) else given_words[0]
    if is_placeholder_surname(family_words):
        return forename, "", frozenset()
    parts = frozenset(w for w in family_words if len(w) > 1 and w not in _PARTICLES)
    return forename, "".join(family_words), parts


def prepare(person: Person) -> Prepared:
    """Normalise a person for :func:`compare`."""
    given_words, family_words = words(person.given), words(person.family)
    forename, family, parts = _names(given_words, family_words)
    postcode = "".join((person.postcode or "").split()).upper()
    nhs = "".join((person.nhs_number or "").split())
    return Prepared(
        given_words,
        family_words,
        forename,
        family,
        parts,
        person.dob,
        postcode,
        _GENDERS.get((person.gender or "").strip().casefold(), ""),
        nhs if nhs_number_is_valid(nhs) else "",
    )


def _reversed(p: Prepared) -> Prepared:
    forename, family, parts = _names(p.family_words, p.given_words)
    return Prepared(p.family_words, p.given_words, forename, family, parts, p.dob, p.postcode, p.gender, p.nhs_number)


def _phonetic(a: str, b: str) -> bool:
    code = jellyfish.metaphone(a)
    return bool(code) and code == jellyfish.metaphone(b)


def forename_level(a: str, b: str, aliases: NameAliases) -> str:
    """The level at which two folded first forenames agree."""
    if not a or not b:
        return "null"
    if a == b:
        return "exact"
    if aliases.related(a, b):
        return "nickname"
    if len(a) > 1 and len(b) > 1:
        if JaroWinkler.similarity(a, b) >= TYPO_SIMILARITY:
            return "typo"
        if _phonetic(a, b):
            return "phonetic"
        return "else"
    return "initial" if a[0] == b[0] else "else"


def surname_level(a: Prepared, b: Prepared) -> str:
    """The level at which two prepared surnames agree."""
    if not a.family or not b.family:
        return "null"
    if a.family == b.family:
        return "exact"
    if a.family_parts & b.family_parts:
        return "part"
    if JaroWinkler.similarity(a.family, b.family) >= TYPO_SIMILARITY:
        return "typo"
    if _phonetic(a.family, b.family):
        return "phonetic"
    return "else"


def dob_level(a: dt.date | None, b: dt.date | None) -> str:
    """The level at which two dates of birth agree."""
    if a is None or b is None:
        return "null"
    if a == b:
        return "exact"
    if a.year == b.year and a.day == b.month and a.month == b.day:
        return "swapped"
    if OSA.distance(a.isoformat(), b.isoformat()) == 1:
        return "one-digit"
    if abs((a - b).days) <= 31:
        return "within-month"
    return "else"


def postcode_level(a: str, b: str) -> str:
    """The level at which two compact (upper case, spaceless) postcodes agree."""
    if not a or not b:
        return "null"
    if a == b:
        return "full"
    # A UK inward code is always three characters; the outward code (the district) is the rest.
    if len(a) >= 5 and len(b) >= 5 and a[:-3] == b[:-3]:
        return "sector" if a[-3] == b[-3] else "district"
    return "else"


def gender_level(a: str, b: str) -> str:
    if not a or not b:
        return "null"
    return "agree" if a == b else "differ"


_AGREE_SURNAME = frozenset({"exact", "part", "typo"})
_AGREE_FORENAME = frozenset({"exact", "nickname", "typo"})


def compare(a: Prepared, b: Prepared, aliases: NameAliases) -> dict[str, str]:
    """The agreement pattern of two prepared records: each comparison's level, keyed as in :data:`LEVELS`.

    The names are read the other way round only when, as written, the surnames disagree, and crosswise
    both names agree: one record put the forename in the surname's place and the surname in the forename's.
    """
    order = "as-recorded"
    surname = surname_level(a, b)
    forename = forename_level(a.forename, b.forename, aliases)
    if surname not in _AGREE_SURNAME and surname != "null" and b.forename and b.family:
        swapped = _reversed(b)
        crossed_surname = surname_level(a, swapped)
        crossed_forename = forename_level(a.forename, swapped.forename, aliases)
        if crossed_surname in _AGREE_SURNAME and crossed_forename in _AGREE_FORENAME:
            order, surname, forename = "reversed", crossed_surname, crossed_forename
    return {
        "name_order": order,
        "forename": forename,
        "surname": surname,
        "dob": dob_level(a.dob, b.dob),
        "postcode": postcode_level(a.postcode, b.postcode),
        "gender": gender_level(a.gender, b.gender),
    }
