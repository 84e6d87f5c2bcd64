"""Parse & limit: costly, deep, alias-heavy, long or unregistered documents and introspection are refused first."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
import pytest
import strawberry
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from gateway.config import PROJECT_ROOT, Settings
from gateway.errors import ConfigError, DocumentNotTrusted
from gateway.graphql.limits import TrustedDocuments, document_id, limit_extensions, query_cost
from gateway.pipeline.respond import format_error
from gateway.server.app import build_schema

NHS = "9434765919"
FULL = (PROJECT_ROOT / "support" / "full_profile.graphql").read_text()
PRODUCTION: dict[str, Any] = {"mode": "production", "search_hmac_key": "k" * 32}


@functools.cache
def _schema(settings: tuple[tuple[str, Any], ...]) -> strawberry.Schema:
    return build_schema(Settings(**dict(settings)))


def schema(**settings: Any) -> strawberry.Schema:
    return _schema(tuple(sorted(settings.items())))


def cost(document: str) -> int:
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)}
    return query_cost(schema()._schema, operation, fragments)


async def refusal(
    document: str | None,
    *,
    variables: dict[str, Any] | None = None,
    extensions: dict[str, Any] | None = None,
    **settings: Any,
) -> dict[str, Any] | None:
    """The error a client is sent if the document is refused before any resolver runs; None if it ran.

    No context is given, so a document that runs reaches its resolvers and fails there, at their paths."""
    result = await schema(**settings).execute(document, variable_values=variables, operation_extensions=extensions)
    if result.data is not None:
        return None
    assert result.errors and not any(e.path for e in result.errors)
    return format_error(result.errors[0])


def aliases(n: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"


def children(n: int) -> str:
    """``n`` full profiles in one document, each under its own alias."""
    body = FULL.strip().removeprefix("query($id: ID!) {").removesuffix("}")
    return "query($id: ID!) {" + " ".join(f"c{i}: {body}" for i in range(n)) + "}"


def registry(path: Path, *texts: str) -> Path:
    path.write_bytes(orjson.dumps({document_id(t): t for t in texts}))
    return path


# Cost


def test_every_field_costs_one_and_child_and_search_cost_what_they_ask_of_agencies() -> None:
    assert cost("{ me { id role } }") == 3
    assert cost(f'{{ child(id: "{NHS}") {{ id }} }}') == 10 + 1
    assert cost('{ searchChildren(name: "Ada", purpose: SAFEGUARDING) { id } }') == 20 + 10 * 1


def test_a_list_multiplies_its_items_cost_by_its_size() -> None:
    assert cost("{ services { id name } }") == 1 + 100 * 2
    assert cost(f'{{ child(id: "{NHS}") {{ involvements {{ agency role }} }} }}') == 10 + 1 + 20 * 2
    # a list with no size of its own counts as ten
    assert cost(f'{{ child(id: "{NHS}") {{ sources {{ agency status }} }} }}') == 10 + 1 + 10 * 2
    # a list of plain values has no items' fields to multiply
    assert cost(f'{{ child(id: "{NHS}") {{ warnings }} }}') == 10 + 1


def test_a_list_inside_a_list_multiplies_by_both_sizes() -> None:
    assert cost(f'{{ accessLog(childId: "{NHS}") {{ fieldsWithheld {{ path }} }} }}') == 1 + 50 * (1 + 10 * 1)


def test_an_auditor_may_select_every_field_of_the_access_log_in_one_query() -> None:
    every = "at kind requestId practitioner role agency purpose breakGlass agenciesCalled fieldsReturned"
    every += " fieldsWithheld { path reason } policyRevision"
    assert cost(f'{{ accessLog(childId: "{NHS}") {{ {every} }} }}') <= Settings().max_cost


def test_fragments_cost_what_they_would_cost_written_out_each_time_they_are_used() -> None:
    child = f'child(id: "{NHS}")'
    involvements = "fragment I on Child { involvements { agency } }"
    written = cost(f"{{ {child} {{ involvements {{ agency }} name {{ given }} }} }}")
    assert cost(f"{{ {child} {{ ...I ... on Child {{ name {{ given }} }} }} }} {involvements}") == written
    twice = f"{{ a: {child} {{ ...I }} b: {child} {{ ...I }} }} {involvements}"
    assert cost(twice) == 2 * cost(f"{{ {child} {{ involvements {{ agency }} }} }}")


def test_a_full_profile_costs_what_the_readme_says() -> None:
    assert cost(FULL) == 733


async def test_five_full_profiles_in_one_document_are_refused_with_the_cost_and_the_maximum() -> None:
    assert await refusal(children(4), variables={"id": NHS}) is None
    error = await refusal(children(5), variables={"id": NHS})
    assert error is not None
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 5 * 733, "maxCost": 3000}
    assert "3665" in error["message"] and "3000" in error["message"]


async def test_a_document_costing_exactly_the_maximum_runs_and_one_field_more_is_refused() -> None:
    assert await refusal(aliases(2), max_cost=2) is None
    error = await refusal(aliases(3), max_cost=2)
    assert error is not None and error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 3, "maxCost": 2}


# Depth, aliases, tokens


async def test_a_document_deeper_than_the_maximum_is_refused_even_through_a_fragment() -> None:
    assert await refusal(f'{{ child(id: "{NHS}") {{ name {{ given }} }} }}', max_depth=2) is None
    deep = f'{{ child(id: "{NHS}") {{ involvements {{ practitioner {{ name }} }} }} }}'
    error = await refusal(deep, max_depth=2)
    assert error is not None and error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}
    hidden = f'{{ child(id: "{NHS}") {{ ...I }} }} fragment I on Child {{ involvements {{ practitioner {{ name }} }} }}'
    error = await refusal(hidden, max_depth=2)
    assert error is not None and error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}


async def test_more_aliases_than_the_maximum_are_refused_even_inside_a_fragment() -> None:
    assert await refusal(aliases(2), max_aliases=2) is None
    error = await refusal(aliases(3), max_aliases=2)
    assert error is not None and error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}
    in_fragment = "{ ...F } fragment F on Query { a: __typename b: __typename c: __typename }"
    error = await refusal(in_fragment, max_aliases=2)
    assert error is not None and error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}


async def test_a_document_of_more_tokens_than_the_maximum_is_refused() -> None:
    assert await refusal("{ __typename }", max_tokens=10) is None
    error = await refusal("{ " + "__typename " * 20 + "}", max_tokens=10)
    assert error is not None and error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}


# Introspection

SCHEMA_QUERY = "{ __schema { queryType { name } } }"


async def test_introspection_is_refused_in_production_unless_switched_on() -> None:
    for document in (SCHEMA_QUERY, '{ __type(name: "Child") { name } }', "{ s: __schema { queryType { name } } }"):
        error = await refusal(document, **PRODUCTION)
        assert error is not None and error["extensions"] == {"code": "INTROSPECTION_DISABLED"}, document
    assert await refusal("{ __typename }", **PRODUCTION) is None  # clients need it
    assert await refusal(SCHEMA_QUERY, **PRODUCTION, introspection=True) is None


async def test_introspection_is_on_in_development_unless_switched_off() -> None:
    assert await refusal(SCHEMA_QUERY) is None
    error = await refusal(SCHEMA_QUERY, introspection=False)
    assert error is not None and error["extensions"] == {"code": "INTROSPECTION_DISABLED"}


# Trusted documents

REGISTERED = "{ __typename }"


async def test_in_registered_only_mode_only_a_registered_document_runs(tmp_path: Path) -> None:
    trusted: dict[str, Any] = {
        "trusted_documents": "require",
        "trusted_documents_path": registry(tmp_path / "docs.json", REGISTERED),
    }
    hex_id = document_id(REGISTERED).removeprefix("sha256:")
    assert await refusal(None, extensions={"documentId": document_id(REGISTERED)}, **trusted) is None
    assert await refusal(None, extensions={"persistedQuery": {"version": 1, "sha256Hash": hex_id}}, **trusted) is None
    assert await refusal(REGISTERED, **trusted) is None  # its text alone
    assert await refusal(REGISTERED, extensions={"documentId": document_id(REGISTERED)}, **trusted) is None

    refused = [
        await refusal("{ me { id } }", **trusted),
        await refusal(None, **trusted),
        await refusal(None, extensions={"documentId": document_id("{ me { id } }")}, **trusted),
        await refusal("{ me { id } }", extensions={"documentId": document_id(REGISTERED)}, **trusted),
    ]
    for error in refused:
        assert error is not None and error["extensions"] == {"code": "DOCUMENT_NOT_TRUSTED"}
    assert "not registered" in str(refused[2])
    assert "does not match" in str(refused[3])


async def test_a_registered_document_is_still_held_to_the_limits(tmp_path: Path) -> None:
    path = registry(tmp_path / "docs.json", aliases(3))
    error = await refusal(
        None,
        extensions={"documentId": document_id(aliases(3))},
        trusted_documents="require",
        trusted_documents_path=path,
        max_aliases=2,
    )
    assert error is not None and error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}


def test_registered_only_mode_without_a_file_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="trusted_documents_path"):
        limit_extensions(Settings(trusted_documents="require"))


def test_a_document_id_that_is_not_the_hash_of_its_text_stops_loading(tmp_path: Path) -> None:
    path = tmp_path / "docs.json"
    path.write_bytes(
        orjson.dumps(
            {document_id(REGISTERED): REGISTERED, document_id("{ me { id } }"): "{ __schema { types { name } } }"}
        )
    )
    with pytest.raises(ConfigError, match=r"docs\.json: id 'sha256:[0-9a-f]{64}' is not the SHA-256 of its document"):
        TrustedDocuments.load(path)


def test_an_apollo_persisted_query_manifest_is_read(tmp_path: Path) -> None:
    text = "query Me { me { id } }"
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": document_id(text).removeprefix("sha256:"), "name": "Me", "type": "query", "body": text}],
    }
    path = tmp_path / "persisted-query-manifest.json"
    path.write_bytes(orjson.dumps(manifest))
    docs = TrustedDocuments.load(path)
    hex_id = document_id(text).removeprefix("sha256:")
    assert docs.resolve(None, {"persistedQuery": {"version": 1, "sha256Hash": hex_id}}) == text
    assert docs.resolve(None, {"documentId": document_id(text)}) == text
    with pytest.raises(DocumentNotTrusted):
        docs.resolve("{ me { role } }", None)

    manifest["operations"][0]["id"] = "0" * 64  # type: ignore[index]
    path.write_bytes(orjson.dumps(manifest))
    with pytest.raises(ConfigError, match="is not the SHA-256 of its document"):
        TrustedDocuments.load(path)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'["{ __typename }"]', orjson.dumps({document_id(REGISTERED): 7})],
    ids=["not-json", "a-list", "no-text"],
)
def test_a_file_that_is_not_an_object_of_documents_stops_loading(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "docs.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"trusted documents .*docs\.json"):
        TrustedDocuments.load(path)


def test_a_registered_document_the_schema_would_refuse_stops_start_up_naming_it() -> None:
    broken = "{ me { nickname } }"
    with pytest.raises(ConfigError, match=rf"trusted document {document_id(broken)[:19]}\.\.\.: .*nickname"):
        TrustedDocuments({document_id(broken): broken}).check(schema())
    with pytest.raises(ConfigError, match=r"\(line 1\)"):
        TrustedDocuments({document_id("{ me {"): "{ me {"}).check(schema())
    TrustedDocuments({document_id(REGISTERED): REGISTERED}).check(schema())
