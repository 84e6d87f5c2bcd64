"""The synthetic population: valid identifiers, determinism, realistic subsets and error rates."""

from __future__ import annotations

from collections import Counter

import pytest

from mocks import names
from mocks.identifiers import nhs_number_is_valid, upn_is_valid, with_upn_check_letter
from mocks.population import ErrorRates, Population


@pytest.fixture(scope="module")
def pop() -> Population:
    return Population.generate(children=4000, seed=11)


def test_every_nhs_number_and_upn_has_a_valid_check_character(pop: Population) -> None:
    assert all(nhs_number_is_valid(c.nhs_number) for c in pop.children)
    assert len({c.nhs_number for c in pop.children}) == len(pop.children)
    assert pop.education and all(upn_is_valid(u) for u in pop.education)


def test_check_characters_catch_single_digit_errors() -> None:
    assert nhs_number_is_valid("9434765919")
    assert not nhs_number_is_valid("9434765918")
    upn = with_upn_check_letter("823201115001")
    assert upn_is_valid(upn)
    assert not upn_is_valid(upn[0] + "823201115002")


def test_same_seed_same_world_other_seed_other_world(pop: Population) -> None:
    again = Population.generate(children=4000, seed=11)
    other = Population.generate(children=4000, seed=12)
    assert [c.facts() for c in again.children[:200]] == [c.facts() for c in pop.children[:200]]
    assert [c.nhs_number for c in other.children[:50]] != [c.nhs_number for c in pop.children[:50]]


def test_agencies_hold_realistic_subsets(pop: Population) -> None:
    n = len(pop.children)
    assert len(pop.health) == n  # every child has a GP record
    school_age = [c for c in pop.children if 4 <= c.age <= 17]
    assert all(c.upn for c in school_age)
    assert 0.02 < len(pop.social_care) / n < 0.15
    assert 0.01 < len(pop.police) / n < 0.08
    kinds = Counter(k for c in pop.children for k in c.kinds)
    for kind in (
        "shielded",
        "sensitive-consented",
        "sensitive-not-consented",
        "on-plan",
        "police-known",
        "weak-match",
        "conflicting",
        "ordinary",
    ):
        assert kinds[kind] > 0, kind


def test_ground_truth_names_the_owner_of_every_record(pop: Population) -> None:
    for upn, _rec in list(pop.education.items())[:300]:
        owner = pop.truth.owner("education", upn)
        assert owner is not None
        assert pop.children[owner].upn == upn or "duplicate" in pop.children[owner].kinds
    child = next(pop.of_kind("police-known"))
    assert ("police", child.police_ref) in pop.truth.records_of(child.index)


def test_error_rates_follow_the_configuration() -> None:
    rates = ErrorRates(missing_nhs_number=0.2, day_month_swap=0.0, typo=0.0, name_variant=0.0)
    p = Population.generate(children=6000, seed=3, rates=rates)
    missing = sum(1 for r in p.education.values() if r.nhs_number is None) / len(p.education)
    assert 0.17 < missing < 0.23
    assert all(r.who.dob == p.children[p.truth.owner("education", u)].dob for u, r in p.education.items())
    none = Population.generate(children=2000, seed=3, rates=ErrorRates(missing_nhs_number=0.0))
    assert all(r.nhs_number for r in none.education.values())


def test_each_copy_records_the_errors_it_was_given(pop: Population) -> None:
    """Linking is scored per kind of error, so the kinds a copy records must be exactly what differs in it."""
    seen: Counter[str] = Counter()
    for agency, store in (("education", pop.education), ("social-care", pop.social_care), ("police", pop.police)):
        for record_id, record in store.items():
            owner = pop.truth.owner(agency, record_id)
            assert owner is not None
            child, who = pop.children[owner], record.who
            seen.update(who.errors)
            assert ("name_variant" in who.errors) == (who.given == names.VARIANTS.get(child.given))
            assert ("typo" in who.errors) == (who.given not in (child.given, names.VARIANTS.get(child.given)))
            assert ("day_month_swap" in who.errors) == (who.dob != child.dob)
            assert ("stale_address" in who.errors) == (who.address != child.address)
    assert all(seen[kind] > 0 for kind in ("name_variant", "typo", "day_month_swap", "stale_address")), seen
