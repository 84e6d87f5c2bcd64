"""Record pairs for linkage benchmarks and weight estimation, labelled with the population's ground truth.

Every agency copy of a child's demographics is a :class:`Copy`: the fields its mock serves (youth
justice serves no postcode; only the GP record has gender), its owner by ``Population.truth``, and the
data-quality errors it was given. :func:`search` answers as the agencies' own searches do: exact
surname (any case) and date of birth::

    pop = Population.generate(3000, seed=1)
    copies = agency_copies(pop)
    index = SearchIndex(copies)
    for child in pop.children:
        found = index.search(child.family, child.dob)    # what a surname-and-DOB search returns

Error kinds use ``ErrorRates``' names: ``name_variant``, ``typo``, ``day_month_swap``,
``stale_address``, plus ``missing_nhs_number`` (an agency that records NHS numbers has none for this
copy) and ``duplicate`` (the agency holds more than one record of the child).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from mocks.population import Child, Demographics, Population

DEMOGRAPHIC_AGENCIES = ("health", "education", "social-care", "police", "housing", "youth-justice")
"""Agencies whose records carry who the child is (the others are looked up by NHS number alone)."""

HOLDS_NHS_NUMBER = frozenset({"health", "education", "social-care", "youth-justice"})


@dataclass(frozen=True, slots=True)
class Copy:
    """One agency record's demographics, as its mock serves them, and whose record it truly is."""

    agency: str
    record_id: str
    owner: int  # the child's index, from the ground truth
    given: str
    family: str
    dob: dt.date
    postcode: str | None
    gender: str | None
    nhs_number: str | None
    errors: frozenset[str]


def _copy(
    agency: str, record_id: str, owner: int, who: Demographics, nhs: str | None, extra: set[str], gender: str | None
) -> Copy:
    postcode = None if agency == "youth-justice" else who.postcode  # its mock serves no address
    kinds = set(who.errors) | extra
    if agency in HOLDS_NHS_NUMBER and nhs is None:
        kinds.add("missing_nhs_number")
    return Copy(agency, record_id, owner, who.given, who.family, who.dob, postcode, gender, nhs, frozenset(kinds))


def agency_copies(pop: Population) -> list[Copy]:
    """Every demographic record of every agency, the GP records first."""
    truth = pop.truth
    out: list[Copy] = []
    for nhs, rec in pop.health.items():
        owner = truth.owner("health", nhs)
        assert owner is not None
        out.append(_copy("health", nhs, owner, rec.who, nhs, set(), rec.gender))
    held: Counter[tuple[str, int]] = Counter()
    rows: list[tuple[str, str, int, Demographics, str | None]] = []
    sources: list[tuple[str, list[tuple[str, Demographics, str | None]]]] = [
        ("education", [(k, r.who, r.nhs_number) for k, r in pop.education.items()]),
        ("social-care", [(k, r.who, r.nhs_number) for k, r in pop.social_care.items()]),
        ("police", [(k, r.who, None) for k, r in pop.police.items()]),
        ("youth-justice", [(k, r.who, r.nhs_number) for k, r in pop.youth_justice.items()]),
    ]
    for agency, records in sources:
        for record_id, who, held_nhs in records:
            owner = truth.owner(agency, record_id)
            assert owner is not None
            rows.append((agency, record_id, owner, who, held_nhs))
            held[(agency, owner)] += 1
    # A household record lists its children in the order they were generated (by index).
    members: dict[str, list[Child]] = defaultdict(list)
    for child in pop.children:
        if ("housing", child.household_ref) in truth.records_of(child.index):
            members[child.household_ref].append(child)
    for href, household in pop.households.items():
        for child, who in zip(members[href], household.members, strict=False):
            rows.append(("housing", href, child.index, who, None))
            held[("housing", child.index)] += 1
    for agency, record_id, owner, who, held_nhs in rows:
        extra = {"duplicate"} if held[(agency, owner)] > 1 else set()
        out.append(_copy(agency, record_id, owner, who, held_nhs, extra, None))
    return out


def spine(pop: Population, child: Child) -> Copy:
    """The child's GP record: the demographic reference every other record is linked to."""
    rec = pop.health[child.nhs_number]
    return _copy("health", child.nhs_number, child.index, rec.who, child.nhs_number, set(), rec.gender)


def swapped(dob: dt.date) -> dt.date | None:
    """The date with day and month the other way round, where that is another date."""
    if dob.day > 12 or dob.day == dob.month:
        return None
    return dob.replace(month=dob.day, day=dob.month)


class SearchIndex:
    """The agencies' surname-and-date-of-birth searches over a population's copies."""

    def __init__(self, copies: list[Copy]) -> None:
        self._index: dict[tuple[str, str, dt.date], list[Copy]] = defaultdict(list)
        for c in copies:
            self._index[(c.agency, c.family.casefold(), c.dob)].append(c)

    def search(self, agency: str, family: str, dob: dt.date) -> list[Copy]:
        return self._index.get((agency, family.casefold(), dob), [])


@dataclass(frozen=True, slots=True)
class Candidate:
    """A record an agency's search returned for a child, labelled: is it that child's?"""

    child: int
    copy: Copy
    is_match: bool
    by_swapped_date: bool  # found only by searching the date with day and month swapped


def candidates(
    pop: Population, index: SearchIndex, agencies: tuple[str, ...], *, swapped_search: bool = True
) -> Iterator[Candidate]:
    """What each child's surname-and-DOB search returns at each agency (and, optionally, the swapped date)."""
    for child in pop.children:
        for agency in agencies:
            for c in index.search(agency, child.family, child.dob):
                if not (agency == "health" and c.owner == child.index):
                    yield Candidate(child.index, c, c.owner == child.index, False)
            other = swapped(child.dob) if swapped_search else None
            if other is not None:
                for c in index.search(agency, child.family, other):
                    yield Candidate(child.index, c, c.owner == child.index, True)


def random_nonmatches(pop: Population, copies: list[Copy], n: int, seed: int) -> Iterator[tuple[Child, Copy]]:
    """``n`` pairs of a child and an agency copy of a different child, drawn at random."""
    rng = random.Random(f"linkage-random-pairs-{seed}")
    children = pop.children
    drawn = 0
    while drawn < n:
        child = children[rng.randrange(len(children))]
        copy = copies[rng.randrange(len(copies))]
        if copy.owner != child.index:
            drawn += 1
            yield child, copy


def same_surname_and_dob(pop: Population) -> tuple[float, float]:
    """Other children per child with the same surname and date of birth: (outside its household, inside it)."""
    groups: dict[tuple[str, dt.date], list[Child]] = defaultdict(list)
    for child in pop.children:
        groups[(child.family.casefold(), child.dob)].append(child)
    outside = inside = 0
    for group in groups.values():
        for a in group:
            for b in group:
                if b is not a:
                    if b.household_ref == a.household_ref:
                        inside += 1
                    else:
                        outside += 1
    return outside / len(pop.children), inside / len(pop.children)
