"""Names as linkage reads them: one spelling for many writings, placeholders, and the alias list."""

from __future__ import annotations

import pytest

from gateway.pipeline.linkage.names import NameAliases, fold, is_placeholder_forename, is_placeholder_surname, words


@pytest.fixture(scope="module")
def aliases() -> NameAliases:
    return NameAliases.load()


def test_agencies_spellings_of_one_name_fold_to_one() -> None:
    assert fold("Zoë") == fold("ZOE") == "zoe"
    assert words("O'Brien-Smith") == words("OBRIEN  SMITH") == ("obrien", "smith")
    assert words("Smith–Jones") == ("smith", "jones")  # an en dash from a word processor
    assert fold(None) == fold("  ") == ""


@pytest.mark.parametrize("given", ["Baby", "BABY BOY", "Baby of Sarah", "Twin 1", "N.K.", "Not Known", "unknown", ""])
def test_forenames_written_before_a_child_is_named_are_placeholders(given: str) -> None:
    assert is_placeholder_forename(words(given))


@pytest.mark.parametrize("given", ["K", "Amelia", "Kai", "Mary Jane", "Boyd"])
def test_real_forenames_and_initials_are_not_placeholders(given: str) -> None:
    assert not is_placeholder_forename(words(given))


def test_an_unknown_surname_is_a_placeholder_but_a_surname_containing_those_letters_is_not() -> None:
    assert is_placeholder_surname(words("N/K"))
    assert is_placeholder_surname(words("Unknown"))
    assert not is_placeholder_surname(words("Nkemelu"))


def test_short_forms_from_the_maintained_list_link_both_ways(aliases: NameAliases) -> None:
    assert aliases.related("elizabeth", "liz")
    assert aliases.related("liz", "elizabeth")
    assert aliases.related("margaret", "peggy")


def test_two_short_forms_of_one_name_are_aliases(aliases: NameAliases) -> None:
    assert aliases.related("liz", "beth")


def test_uk_short_forms_missing_from_the_list_are_added(aliases: NameAliases) -> None:
    for full, short in (("alfred", "alfie"), ("catherine", "katie"), ("isabella", "izzy"), ("olivia", "liv")):
        assert aliases.related(full, short), (full, short)


def test_two_names_in_uk_use_are_not_aliases_though_the_list_links_them(aliases: NameAliases) -> None:
    assert not aliases.related("amelia", "emily")
    assert not aliases.related("hannah", "anna")
    assert aliases.related("amelia", "millie")  # still a short form of Amelia


def test_two_full_names_sharing_a_short_form_are_not_aliases(aliases: NameAliases) -> None:
    assert aliases.related("alfred", "alf") and aliases.related("albert", "bertie")
    assert not aliases.related("william", "robert")
    assert not aliases.related("amelia", "amelia")


def test_distinct_pairs_win_over_additions() -> None:
    aliases = NameAliases({"annabel": ["anna", "hannah"]}, distinct=[("anna", "hannah")])
    assert aliases.related("annabel", "hannah")
    assert not aliases.related("anna", "hannah")
