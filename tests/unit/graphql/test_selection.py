"""The selection a child request works from: fragments merged, @skip/@include applied, repeats merged, reused."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import ParserCache

from gateway.graphql.schema import Child
from gateway.graphql.selection import Sel, SelectionCache


@strawberry.type
class Root:
    @strawberry.field
    def child(self, info: strawberry.Info, id: strawberry.ID) -> Child | None:
        info.context["seen"].append(info.context["cache"].of(info))
        return None


# As the gateway parses: the same text is the same document.
SCHEMA = strawberry.Schema(query=Root, extensions=[lambda: ParserCache(maxsize=512)])


async def selections(
    document: str, variables: dict[str, Any] | None = None, cache: SelectionCache | None = None
) -> list[list[Sel]]:
    """The selection each ``child`` field was resolved with, in the order they ran."""
    seen: list[list[Sel]] = []
    context = {"cache": cache or SelectionCache(), "seen": seen}
    result = await SCHEMA.execute(document, variable_values=variables, context_value=context)
    assert result.errors is None, result.errors
    return seen


def tree(selection: list[Sel]) -> dict[str, Any]:
    """``{response key: sub-selection}``, written ``"key: name"`` where an alias differs from the field's name."""
    return {(s.key if s.key == s.name else f"{s.key}: {s.name}"): tree(s.children) for s in selection}


async def test_fragments_are_merged_into_the_fields_they_sit_in() -> None:
    [selection] = await selections(
        '{ child(id: "1") { id ...Names ... on Child { gender } ... { deceased } } }'
        " fragment Names on Child { name { given ...Family } } fragment Family on Name { family }"
    )
    assert tree(selection) == {"id": {}, "name": {"given": {}, "family": {}}, "gender": {}, "deceased": {}}


async def test_an_alias_is_its_own_response_key_for_the_field_it_names() -> None:
    [selection] = await selections('{ child(id: "1") { n: name { given } name { family } dob: dateOfBirth } }')
    assert tree(selection) == {"n: name": {"given": {}}, "name": {"family": {}}, "dob: dateOfBirth": {}}


async def test_a_key_selected_more_than_once_is_one_field_with_every_part_in_the_order_first_asked() -> None:
    [selection] = await selections(
        '{ child(id: "1") { gender name { given } id ...F name { family given } } }'
        " fragment F on Child { gender name { family } }"
    )
    assert tree(selection) == {"gender": {}, "name": {"given": {}, "family": {}}, "id": {}}
    assert [s.key for s in selection] == ["gender", "name", "id"]
    assert [s.key for s in selection[1].children] == ["given", "family"]


async def test_skip_and_include_leave_out_what_they_say() -> None:
    [selection] = await selections(
        '{ child(id: "1") { id gender @skip(if: true) deceased @include(if: false) name @include(if: true) { given }'
        " ... on Child @skip(if: true) { dateOfBirth } ...F @include(if: false) } }"
        " fragment F on Child { address { town } }"
    )
    assert tree(selection) == {"id": {}, "name": {"given": {}}}


async def test_skip_and_include_follow_the_variables_of_each_request_for_the_same_document() -> None:
    document = (
        'query($show: Boolean!) { child(id: "1") { id gender @include(if: $show) name @skip(if: $show) { given }'
        " ...F @include(if: $show) } } fragment F on Child { address { town } }"
    )
    cache = SelectionCache()
    [shown] = await selections(document, {"show": True}, cache)
    [hidden] = await selections(document, {"show": False}, cache)
    [again] = await selections(document, {"show": True}, cache)
    assert tree(shown) == tree(again) == {"id": {}, "gender": {}, "address": {"town": {}}}
    assert tree(hidden) == {"id": {}, "name": {"given": {}}}


async def test_a_root_field_repeated_with_different_selections_is_resolved_once_with_all_of_them() -> None:
    seen = await selections('{ child(id: "1") { name { given } } child(id: "1") { name { family } gender } }')
    assert len(seen) == 1
    assert tree(seen[0]) == {"name": {"given": {}, "family": {}}, "gender": {}}


async def test_aliased_root_fields_each_get_their_own_selection_every_time() -> None:
    document = '{ a: child(id: "1") { id } b: child(id: "2") { gender name { given } } }'
    cache = SelectionCache()
    for _ in range(2):
        a, b = await selections(document, cache=cache)
        assert tree(a) == {"id": {}}
        assert tree(b) == {"gender": {}, "name": {"given": {}}}


async def test_a_document_sent_again_reuses_the_selection_worked_out_the_first_time() -> None:
    cache = SelectionCache()
    [first] = await selections('{ child(id: "1") { id name { given } } }', cache=cache)
    [second] = await selections('{ child(id: "1") { id name { given } } }', cache=cache)
    [other] = await selections('{ child(id: "1") { id name { family } } }', cache=cache)
    assert second is first
    assert tree(other) == {"id": {}, "name": {"family": {}}}


async def test_a_full_cache_starts_again_and_every_document_still_gets_its_own_selection() -> None:
    cache = SelectionCache(maxsize=1)
    one, two = '{ child(id: "1") { id } }', '{ child(id: "1") { gender } }'
    for document, key in ((one, "id"), (two, "gender"), (one, "id"), (two, "gender")):
        [selection] = await selections(document, cache=cache)
        assert tree(selection) == {key: {}}
