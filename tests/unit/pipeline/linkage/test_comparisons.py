"""Comparison levels: each field lands on the level its discrepancy deserves."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.pipeline.linkage.comparisons import Person, compare, dob_level, postcode_level, prepare
from gateway.pipeline.linkage.names import NameAliases

ALIASES = NameAliases.load()
CHILD = Person("Amelia", "Hughes", date(2014, 3, 2), "WG5 3AB", "female")


def pattern(child: Person, record: Person) -> dict[str, str]:
    return compare(prepare(child), prepare(record), ALIASES)


@pytest.mark.parametrize(
    ("given", "level"),
    [
        ("AMELIA", "exact"),
        ("Amelia Rose", "exact"),  # the first forename is compared
        ("Millie", "nickname"),
        ("Ameila", "typo"),
        ("A", "initial"),
        ("Baby", "null"),
        (None, "null"),
        ("Olivia", "else"),
    ],
)
def test_forename_levels(given: str | None, level: str) -> None:
    assert pattern(CHILD, Person(given, "Hughes"))["forename"] == level


def test_a_name_that_sounds_the_same_but_is_spelt_apart_is_phonetic() -> None:
    assert pattern(Person("Kathryn", "Hughes"), Person("Cathryn", "Hughes"))["forename"] == "phonetic"


@pytest.mark.parametrize(
    ("family", "record", "level"),
    [
        ("O'Connor-Reilly", "OCONNOR REILLY", "exact"),
        ("O'Connor-Reilly", "Reilly", "part"),
        ("De Souza", "De Silva", "else"),  # a shared particle is not a shared family
        ("Hughes", "Huhges", "typo"),
        ("Hughes", "Unknown", "null"),
        ("Hughes", "Patel", "else"),
    ],
)
def test_surname_levels(family: str, record: str, level: str) -> None:
    assert pattern(Person("Amelia", family), Person("Amelia", record))["surname"] == level


@pytest.mark.parametrize(
    ("other", "level"),
    [
        (date(2014, 3, 2), "exact"),
        (date(2014, 2, 3), "swapped"),
        (date(2014, 3, 3), "one-digit"),
        (date(2014, 3, 20), "one-digit"),  # 02 and 20: neighbouring digits transposed
        (date(2014, 3, 14), "within-month"),
        (date(2012, 7, 19), "else"),
        (None, "null"),
    ],
)
def test_date_of_birth_levels(other: date | None, level: str) -> None:
    assert dob_level(date(2014, 3, 2), other) == level


def test_day_and_month_count_as_swapped_only_within_the_same_year() -> None:
    assert dob_level(date(2014, 3, 2), date(2015, 2, 3)) != "swapped"


@pytest.mark.parametrize(
    ("other", "level"),
    [("wg53ab", "full"), ("WG5 3ZZ", "sector"), ("WG5 7AB", "district"), ("WG15 3AB", "else"), ("", "null")],
)
def test_postcode_levels(other: str, level: str) -> None:
    assert postcode_level(prepare(CHILD).postcode, prepare(Person(postcode=other)).postcode) == level


def test_forename_and_surname_the_wrong_way_round_are_read_crosswise() -> None:
    found = pattern(CHILD, Person("Hughes", "Amelia", date(2014, 3, 2)))
    assert (found["name_order"], found["forename"], found["surname"]) == ("reversed", "exact", "exact")


def test_names_are_not_read_crosswise_when_they_agree_as_written() -> None:
    found = pattern(Person("Thomas", "James"), Person("Thomas", "James"))
    assert found["name_order"] == "as-recorded"


def test_gender_as_agencies_write_it() -> None:
    assert pattern(CHILD, Person(gender="F"))["gender"] == "agree"
    assert pattern(CHILD, Person(gender="male"))["gender"] == "differ"
    assert pattern(CHILD, Person(gender="unknown"))["gender"] == "null"


FORENAMES = st.sampled_from(["Amelia", "Amy", "Millie", "Ameila", "Emilia", "Olivia", "A", "Baby", "Kathryn"])
SURNAMES = st.sampled_from(["Hughes", "Huhges", "Hughs", "Smith-Jones", "Jones", "Unknown"])
DATES = st.one_of(st.none(), st.dates(min_value=date(2012, 1, 1), max_value=date(2012, 3, 31)))
POSTCODES = st.sampled_from(["WG5 3AB", "WG5 3ZZ", "WG5 7AB", "WG15 3AB", ""])
PEOPLE = st.builds(Person, FORENAMES, SURNAMES, DATES, POSTCODES, st.sampled_from(["female", "male", None]))


@given(PEOPLE, PEOPLE)
def test_the_pattern_does_not_depend_on_which_record_is_the_child(a: Person, b: Person) -> None:
    assert pattern(a, b) == pattern(b, a)
