"""The child's answer is completed while the policy is applied, not by walking it again: it must still be
exactly what GraphQL promises — aliases, fragments, ``__typename``, nulls — and an agency's value that
does not fit the schema is reported where it would have been, never a failure of the whole child."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
import orjson

from gateway.agencies.upstream import AiohttpUpstream, UpstreamResponse
from gateway.config import Settings
from gateway.dev.tokens import dev_token
from gateway.server.app import create_app
from support.stack import Stack


def ordinary(stack: Stack):  # type: ignore[no-untyped-def]
    return next(c for c in stack.pop.of_kind("ordinary") if c.upn and not c.shielded)


def test_aliases_of_one_field_each_get_their_own_selection(stack: Stack) -> None:
    child = ordinary(stack)
    out = stack.query(
        "query($id: ID!) { c: child(id: $id, purpose: SAFEGUARDING) {"
        " first: name { given } last: name { family } both: name { ...N } } }"
        " fragment N on Name { given family }",
        id=child.nhs_number,
    )
    c = out["data"]["c"]
    assert c == {
        "first": {"given": child.given},
        "last": {"family": child.family},
        "both": {"given": child.given, "family": child.family},
    }
    assert list(c) == ["first", "last", "both"]  # in the order asked


def test_typename_is_answered_at_every_level(stack: Stack) -> None:
    child = ordinary(stack)
    out = stack.query(
        "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) { __typename name { __typename family }"
        " sources { __typename agency } school { t: __typename urn } } }",
        id=child.nhs_number,
    )
    c = out["data"]["child"]
    assert c["__typename"] == "Child"
    assert c["name"] == {"__typename": "Name", "family": child.family}
    assert c["school"] == {"t": "SchoolEnrolment", "urn": child.school_urn}
    assert c["sources"] and all(s["__typename"] == "Source" and s["agency"] for s in c["sources"])


def test_skip_and_include_follow_their_variables(stack: Stack) -> None:
    child = ordinary(stack)
    query = (
        "query($id: ID!, $more: Boolean!) { child(id: $id, purpose: SAFEGUARDING) {"
        " id name @skip(if: $more) { family } ... @include(if: $more) { dateOfBirth school { urn } } } }"
    )
    less = stack.query(query, id=child.nhs_number, more=False)["data"]["child"]
    more = stack.query(query, id=child.nhs_number, more=True)["data"]["child"]
    assert less == {"id": child.nhs_number, "name": {"family": child.family}}
    assert more == {"id": child.nhs_number, "dateOfBirth": child.dob.isoformat(), "school": {"urn": child.school_urn}}


class _Misfitting(AiohttpUpstream):
    """Real HTTP to the mock agencies, except that health's patient has two values of the wrong type."""

    async def get(
        self, url: str, *, params: Mapping[str, str], headers: Mapping[str, str], timeout: float, max_bytes: int
    ) -> UpstreamResponse:
        response = await super().get(url, params=params, headers=headers, timeout=timeout, max_bytes=max_bytes)
        if "/fhir/Patient/" not in url or response.status != 200:
            return response
        patient = orjson.loads(response.body)
        patient["gender"] = {"code": "F"}  # an object where the schema has a String
        patient["deceasedBoolean"] = "perhaps"  # not a Boolean
        return UpstreamResponse(response.status, orjson.dumps(patient), response.content_type)


async def test_a_value_that_does_not_fit_the_schema_is_nulled_and_named_where_it_was(
    stack: Stack, tmp_path: Path
) -> None:
    child = ordinary(stack)
    settings = Settings(
        agency_urls={k: v for k, v in stack.agencies.items() if k != "directory"},
        directory_url=stack.agencies["directory"],
        audit_path=tmp_path / "audit.jsonl",
        policy_watch=False,
    )
    app = create_app(settings, upstream=_Misfitting())
    query = (
        "query($id: ID!) { child(id: $id, purpose: SAFEGUARDING) {"
        " id name { family } gender deceased school { urn } } }"
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        r = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": child.nhs_number}},
            headers={"Authorization": f"Bearer {dev_token('social-worker', mfa=True)}"},
        )
    assert r.status_code == 200
    out = r.json()
    c = out["data"]["child"]
    assert c["id"] == child.nhs_number and c["name"] == {"family": child.family}  # the rest is answered
    assert c["school"] == {"urn": child.school_urn}
    assert c["gender"] is None and c["deceased"] is None
    by_path = {tuple(e["path"]): e for e in out["errors"]}
    for field in ("gender", "deceased"):
        err = by_path[("child", field)]
        assert err["extensions"] == {"code": "AGENCY_BAD_RESPONSE", "agency": "health"}
        assert "perhaps" not in err["message"] and "code" not in err["message"]  # never the agency's value
    assert not [e for e in out["errors"] if e["extensions"]["code"] == "INTERNAL"]
