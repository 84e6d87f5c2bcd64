"""The Fellegi-Sunter matcher: what it links, at which grade, and why.

Grades here come from the committed weights file with the prior of a 100,000-child area, so a test
that names a grade also checks that the file still says what the README explains.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.pipeline.link import Matcher
from gateway.pipeline.linkage import FellegiSunterMatcher, NameAliases, Person, load_weights
from gateway.pipeline.linkage.weights import TermFrequencies
from gateway.pipeline.records import Demographics
from gateway.types import MATCH_ORDER
from mocks.linkage import SearchIndex, agency_copies, candidates
from mocks.population import Population

WEIGHTS = load_weights()
ALIASES = NameAliases.load()


@pytest.fixture(scope="module")
def matcher() -> FellegiSunterMatcher:
    return FellegiSunterMatcher(WEIGHTS, ALIASES, children=100_000)


def at_least(grade: str | None, floor: str) -> bool:
    return grade is not None and MATCH_ORDER[grade] <= MATCH_ORDER[floor]


# -- a child the mocks never saw: names and errors written here by hand ------------------------------

SIOBHAN = Person("Siobhán", "O'Connor-Reilly", date(2015, 4, 9), "WG11 2HT", "female")
"""An Irish forename with an accent and a double-barrelled surname with an apostrophe: neither is on the
mocks' name lists, and the mocks never write a surname differently."""


@pytest.mark.parametrize(
    ("record", "grade", "level"),
    [
        (Person("SIOBHAN", "OCONNOR REILLY", date(2015, 4, 9), "wg112ht"), "certain", ("surname", "exact")),
        (Person("Siobhan", "Reilly", date(2015, 4, 9), "WG11 2HT"), "certain", ("surname", "part")),
        (Person("O'Connor-Reilly", "Siobhan", date(2015, 4, 9), "WG11 2HT"), "certain", ("name_order", "reversed")),
        (Person("Siobhan", "O'Connor-Reilly", date(2015, 9, 4), "WG11 2HT"), "certain", ("dob", "swapped")),
        (Person("Siobahn", "O'Connor-Reilly", date(2015, 4, 9), "WG11 2HT"), "certain", ("forename", "typo")),
        (Person("Siobhan", "O'Connor-Reilly", date(2015, 4, 8), "WG11 2HT"), "probable", ("dob", "one-digit")),
        (Person("Siobhan", "O'Connor-Reilly", date(2015, 4, 20), "WG11 2HT"), "possible", ("dob", "within-month")),
        (Person("Siobhan", "O'Connor-Reilly", date(2015, 4, 9), "WG3 9QQ"), "possible", ("postcode", "else")),
        (Person("Baby", "O'Connor-Reilly", date(2015, 4, 9), "WG11 2HT"), "possible", ("forename", "null")),
        # a new surname (adoption, a parent's new partner) at the same address: linked, but not certain
        (Person("Siobhan", "Murphy", date(2015, 4, 9), "WG11 2HT"), "probable", ("surname", "else")),
    ],
)
def test_a_child_the_mocks_never_saw_is_linked_through_each_discrepancy(
    matcher: FellegiSunterMatcher, record: Person, grade: str, level: tuple[str, str]
) -> None:
    found = matcher.match(SIOBHAN, record)
    assert found.pattern[level[0]] == level[1]
    assert found.grade == grade, found


@pytest.mark.parametrize(
    "record",
    [
        # her twin: same surname, date of birth, address and gender; only the forename differs
        Person("Aoife", "O'Connor-Reilly", date(2015, 4, 9), "WG11 2HT", "female"),
        # her sister, born three years earlier to the day (the date is one digit off)
        Person("Ciara", "O'Connor-Reilly", date(2012, 4, 9), "WG11 2HT", "female"),
        # a namesake across town, born another year
        Person("Siobhan", "O'Connor-Reilly", date(2013, 11, 30), "WG3 9QQ"),
        # another family's Siobhan, born the same day elsewhere
        Person("Siobhan", "Murphy", date(2015, 4, 9), "WG3 9QQ"),
    ],
)
def test_her_twin_her_sister_and_namesakes_are_not_linked(matcher: FellegiSunterMatcher, record: Person) -> None:
    assert matcher.match(SIOBHAN, record).grade is None


def test_a_placeholder_forename_is_no_evidence_so_it_can_be_a_twin_and_is_never_certain(
    matcher: FellegiSunterMatcher,
) -> None:
    named = matcher.match(SIOBHAN, dataclasses.replace(SIOBHAN, given="Siobhan"))
    baby = matcher.match(SIOBHAN, dataclasses.replace(SIOBHAN, given="Baby"))
    assert baby.contributions["forename"] == 0
    assert baby.contributions["twin"] < -1  # a twin would fit "Baby O'Connor-Reilly" as well
    assert named.grade == "certain" and baby.grade != "certain"


def test_common_names_are_weaker_evidence_than_rare_ones(matcher: FellegiSunterMatcher) -> None:
    tf = dict(WEIGHTS.term_frequencies)
    tf["surname"] = TermFrequencies({"smith": 0.01, "okafor": 0.0001}, floor=1e-5, unseen=0.0001)
    scored = FellegiSunterMatcher(dataclasses.replace(WEIGHTS, term_frequencies=tf), ALIASES, children=100_000)
    smith = scored.match(Person("Ava", "Smith", date(2016, 1, 20)), Person("Ava", "Smith", date(2016, 1, 20)))
    okafor = scored.match(Person("Ava", "Okafor", date(2016, 1, 20)), Person("Ava", "Okafor", date(2016, 1, 20)))
    assert okafor.contributions["surname"] - smith.contributions["surname"] == pytest.approx(6.644, abs=0.01)
    assert okafor.probability > smith.probability


# -- the NHS number -----------------------------------------------------------------------------------


def test_the_same_valid_nhs_number_is_certain_whatever_the_names_say(matcher: FellegiSunterMatcher) -> None:
    child = dataclasses.replace(SIOBHAN, nhs_number="943 476 5919")
    found = matcher.match(child, Person("Shiv", "Reilly", date(2016, 1, 1), nhs_number="9434765919"))
    assert (found.grade, found.via, found.pattern["nhs_number"]) == ("certain", "nhs_number", "agree")


def test_another_valid_nhs_number_is_another_child_however_alike(matcher: FellegiSunterMatcher) -> None:
    child = dataclasses.replace(SIOBHAN, nhs_number="9434765919")
    found = matcher.match(child, dataclasses.replace(SIOBHAN, nhs_number="9434765870"))
    assert found.grade is None and found.pattern["nhs_number"] == "differ"


def test_an_nhs_number_failing_its_check_digit_is_ignored(matcher: FellegiSunterMatcher) -> None:
    child = dataclasses.replace(SIOBHAN, nhs_number="9434765919")
    found = matcher.match(child, dataclasses.replace(SIOBHAN, nhs_number="9434765918"))
    assert (found.grade, found.via, found.pattern["nhs_number"]) == ("certain", "score", "null")


# -- behind the seam ------------------------------------------------------------------------------------


def test_the_seam_grades_demographics_as_link_and_search_hand_them_over() -> None:
    seam: Matcher = FellegiSunterMatcher(WEIGHTS, ALIASES, children=100_000)
    child = Demographics("Amelia", "Hughes", date(2014, 3, 2), "WG5 3AB")
    assert seam.grade(child, Demographics("Millie", "HUGHES", date(2014, 3, 2), "WG5 3AB")) == "probable"
    assert seam.grade(child, Demographics("Olivia", "Hughes", date(2014, 3, 2), "WG5 3AB")) is None


def test_a_larger_area_asks_for_more_evidence() -> None:
    small = FellegiSunterMatcher(WEIGHTS, ALIASES, children=3_000)
    large = FellegiSunterMatcher(WEIGHTS, ALIASES, children=1_000_000)
    stale = Person("Siobhan", "O'Connor-Reilly", date(2015, 4, 9), "WG3 9QQ")
    assert small.match(SIOBHAN, stale).probability > large.match(SIOBHAN, stale).probability
    assert at_least(small.match(SIOBHAN, stale).grade, "probable") and large.match(SIOBHAN, stale).grade is None


# -- every kind of discrepancy the mocks inject -----------------------------------------------------------


@pytest.fixture(scope="module")
def mock_pairs() -> dict[str, list[tuple[bool, str | None, frozenset[str]]]]:
    """(is the child's, FS grade, the record's error kinds) for what each child's searches return."""
    pop = Population.generate(children=3000, seed=5)
    copies = agency_copies(pop)
    spines = {c.owner: c for c in copies if c.agency == "health"}
    scorer = FellegiSunterMatcher(WEIGHTS, ALIASES, children=3000)
    out: dict[str, list[tuple[bool, str | None, frozenset[str]]]] = {}
    agencies = ("education", "social-care", "police", "housing", "youth-justice")
    for cand in candidates(pop, SearchIndex(copies), agencies):
        child, copy = spines[cand.child], cand.copy
        # names, dates and postcodes only: the NHS number would decide most of these by itself
        grade = scorer.match(
            Person(child.given, child.family, child.dob, child.postcode),
            Person(copy.given, copy.family, copy.dob, copy.postcode),
        ).grade
        out.setdefault(copy.agency, []).append((cand.is_match, grade, copy.errors))
    return out


@pytest.mark.parametrize(
    "kind", ["typo", "name_variant", "day_month_swap", "stale_address", "missing_nhs_number", "duplicate"]
)
def test_every_record_with_one_kind_of_mock_error_is_linked_to_its_child_as_at_least_probable(
    mock_pairs: dict[str, list[tuple[bool, str | None, frozenset[str]]]], kind: str
) -> None:
    with_kind = [grade for pairs in mock_pairs.values() for ok, grade, errors in pairs if ok and errors == {kind}]
    assert len(with_kind) >= 5, f"too few {kind} records in the sample"
    assert all(at_least(grade, "probable") for grade in with_kind), Counter(with_kind)


def test_no_record_of_another_child_is_linked_in_the_mocks(
    mock_pairs: dict[str, list[tuple[bool, str | None, frozenset[str]]]],
) -> None:
    wrong = [grade for pairs in mock_pairs.values() for ok, grade, _ in pairs if not ok and grade is not None]
    assert wrong == []


# -- properties -----------------------------------------------------------------------------------------------

FORENAMES = st.sampled_from(["Amelia", "Amy", "Millie", "Ameila", "Olivia", "A", "Baby", "Siobhan", None])
SURNAMES = st.sampled_from(["Hughes", "Huhges", "Hughs", "Smith-Jones", "Jones", None])
DATES = st.one_of(st.none(), st.dates(min_value=date(2012, 1, 1), max_value=date(2012, 3, 31)))
POSTCODES = st.sampled_from(["WG5 3AB", "WG5 3ZZ", "WG5 7AB", "WG15 3AB", None])
PEOPLE = st.builds(Person, FORENAMES, SURNAMES, DATES, POSTCODES, st.sampled_from(["female", "male", None]))
FIELDS = st.sampled_from(["given", "family", "dob", "postcode", "gender"])


@given(PEOPLE, PEOPLE, FIELDS)
def test_agreeing_on_one_more_field_never_lowers_the_score(child: Person, record: Person, field: str) -> None:
    scorer = FellegiSunterMatcher(WEIGHTS, ALIASES, children=100_000)
    value = getattr(child, field)
    if value is None:
        return
    before = scorer.match(child, record)
    after = scorer.match(child, dataclasses.replace(record, **{field: value}))
    assert after.weight >= before.weight - 1e-9, (before.pattern, after.pattern)


@given(PEOPLE, PEOPLE)
def test_the_score_does_not_depend_on_which_record_is_the_child(a: Person, b: Person) -> None:
    scorer = FellegiSunterMatcher(WEIGHTS, ALIASES, children=100_000)
    assert scorer.match(a, b).weight == pytest.approx(scorer.match(b, a).weight)
