"""Respond: request ids a client may set, and every error with a stable code and nothing internal in it."""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson
import pytest
import strawberry

from gateway.config import Settings
from gateway.errors import AgencyTimeout, RateLimited
from gateway.pipeline.respond import format_error, request_id, withheld_errors
from gateway.server.app import build_schema
from gateway.types import Withheld

SECRET = "postgres://wardgate:hunter2@10.0.0.7/audit"


@strawberry.type
class Root:
    @strawberry.field
    def boom(self) -> str | None:
        raise RuntimeError(f"could not connect to {SECRET}")

    @strawberry.field
    def limited(self) -> str | None:
        raise RateLimited("too many child look-ups: 120/minute", retryAfter=12)

    @strawberry.field
    def police(self) -> str | None:
        raise AgencyTimeout("police", "police did not answer in time")


RESOLVERS = strawberry.Schema(query=Root)


@functools.cache
def gateway(**settings: Any) -> strawberry.Schema:
    return build_schema(Settings(**settings))


async def errors(
    schema: strawberry.Schema, document: str, variables: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    result = await schema.execute(document, variable_values=variables)
    assert result.errors
    return [format_error(e) for e in result.errors]


# request_id


@pytest.mark.parametrize("given", ["abc", "0", "req-7f3a.2:retry_1", "A" * 128, "01HV3K8Q2Z7X9Y4W5V6U7T8S9R"])
def test_a_plain_correlation_id_is_kept(given: str) -> None:
    assert request_id(given) == given


@pytest.mark.parametrize(
    "given",
    [None, "", "A" * 129, "two words", "a;b", "line\nbreak", "trailing\n", "café", "<script>", "a/b", '{"k":1}'],
)
def test_anything_else_is_replaced_by_a_fresh_id(given: str | None) -> None:
    replaced = request_id(given)
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert request_id(given) != replaced  # fresh each time, never a shared placeholder


# format_error


async def test_our_own_errors_keep_their_message_code_and_extensions_at_their_path() -> None:
    limited, police = await errors(RESOLVERS, "{ limited police }")
    assert limited == {
        "message": "too many child look-ups: 120/minute",
        "locations": [{"line": 1, "column": 3}],
        "path": ["limited"],
        "extensions": {"code": "RATE_LIMITED", "retryAfter": 12},
    }
    assert police["path"] == ["police"]
    assert police["extensions"] == {"code": "AGENCY_TIMEOUT", "agency": "police"}


async def test_an_unexpected_exception_is_only_internal_and_says_nothing_of_itself() -> None:
    [error] = await errors(RESOLVERS, "{ boom }")
    assert error == {
        "message": "Internal error",
        "locations": [{"line": 1, "column": 3}],
        "path": ["boom"],
        "extensions": {"code": "INTERNAL"},
    }
    text = orjson.dumps(error).decode()
    assert "hunter2" not in text and "RuntimeError" not in text and "Traceback" not in text


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        ('{ child(id: "9434765919" { id } }', None),  # does not parse
        ("{ me { nickname } }", None),  # no such field
        ("{ child { id } }", None),  # a required argument missing
        ('{ child(id: "9434765919", purpose: GOSSIP) { id } }', None),  # no such enum value
        ('query($p: Purpose) { child(id: "9434765919", purpose: $p) { id } }', {"p": "GOSSIP"}),
        (
            'query($d: Date) { searchChildren(name: "Ada", purpose: SAFEGUARDING, dateOfBirth: $d) { id } }',
            {"d": "last tuesday"},
        ),
    ],
    ids=["syntax", "unknown-field", "missing-argument", "bad-literal", "bad-enum-variable", "bad-date-variable"],
)
async def test_a_document_or_variable_the_schema_refuses_is_a_bad_request(
    document: str, variables: dict[str, Any] | None
) -> None:
    [error, *_] = await errors(gateway(), document, variables)
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert "path" not in error and error["message"] != "Internal error"


async def test_a_variable_that_does_not_coerce_says_which_variable() -> None:
    document = 'query($d: Date) { searchChildren(name: "Ada", purpose: SAFEGUARDING, dateOfBirth: $d) { id } }'
    [error] = await errors(gateway(), document, {"d": "last tuesday"})
    assert "$d" in error["message"]


@pytest.mark.parametrize(
    "document",
    [
        '{ child(id: "9434765919") { involvements { practitioner { name } } } }',  # too deep
        "{ a: __typename b: __typename }",  # too many aliases
        "{ " + "__typename " * 40 + "}",  # too many tokens
    ],
    ids=["depth", "aliases", "tokens"],
)
async def test_a_document_over_a_limit_is_query_too_complex(document: str) -> None:
    [error] = await errors(gateway(max_depth=2, max_aliases=1, max_tokens=30), document)
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}


async def test_a_limit_rule_that_sets_its_own_code_keeps_it_and_its_extensions() -> None:
    [error] = await errors(gateway(max_cost=5), '{ child(id: "9434765919") { id } }')
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 11, "maxCost": 5}
    assert error["locations"] == [{"line": 1, "column": 1}]


async def test_a_refused_value_that_happens_to_read_like_a_limit_is_still_a_bad_request() -> None:
    [error] = await errors(gateway(), '{ child(id: "9434765919", purpose: "too many") { id } }')
    assert error["extensions"] == {"code": "BAD_REQUEST"}


# withheld_errors


def test_each_withheld_field_is_an_error_at_its_path_with_its_code_reason_and_agency() -> None:
    withheld = [
        Withheld(("child", "police"), "RESTRICTED_NOT_FOR_ROLE"),
        Withheld(("child", "involvements", 2), "SENSITIVE_NEEDS_CONSENT", agency="camhs"),
        Withheld(("kid", "housing", "refuge"), "NOT_CONFIRMED", code="WEAK_MATCH"),
    ]
    assert withheld_errors(withheld) == [
        {
            "message": "Withheld by policy",
            "path": ["child", "police"],
            "extensions": {"code": "FORBIDDEN_FIELD", "reason": "RESTRICTED_NOT_FOR_ROLE"},
        },
        {
            "message": "Withheld by policy",
            "path": ["child", "involvements", 2],
            "extensions": {"code": "FORBIDDEN_FIELD", "reason": "SENSITIVE_NEEDS_CONSENT", "agency": "camhs"},
        },
        {
            "message": "Withheld by policy",
            "path": ["kid", "housing", "refuge"],
            "extensions": {"code": "WEAK_MATCH", "reason": "NOT_CONFIRMED"},
        },
    ]
    assert withheld_errors([]) == []
