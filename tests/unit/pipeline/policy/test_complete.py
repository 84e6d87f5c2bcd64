"""Building the answer while applying decisions: what GraphQL promises about keys, types and nulls."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.config import Settings
from gateway.graphql.labels import FieldTable, field_table
from gateway.graphql.schema import Child
from gateway.graphql.selection import Sel
from gateway.pipeline.child import child_nodes
from gateway.pipeline.link import Profile
from gateway.pipeline.policy.classes import Walk, collect
from gateway.pipeline.policy.complete import complete
from gateway.server.app import build_schema
from gateway.types import Decision, FieldClass

ALLOW = Decision("allow", "TEST")
PATH = ("child",)


@pytest.fixture(scope="module")
def table() -> FieldTable:
    from resolvers import Query

    return field_table(build_schema(Settings()), (Query, Child))


class Decisions(dict):  # type: ignore[type-arg]
    """Allow everything except the named coordinates."""

    def __init__(self, *denied: str) -> None:
        super().__init__()
        self.denied = set(denied)

    def get(self, key: FieldClass, default: Any = None) -> Decision:
        return Decision("deny", "NOT_FOR_TEST") if key.coordinate in self.denied else ALLOW


def profile() -> Profile:
    p = Profile("9434765919", "health")
    p.fields.update(name={"given": "Ada", "family": "Lovelace"}, dateOfBirth=dt.date(2015, 3, 4), gender="female")
    p.origin.update(name="health", dateOfBirth="health", gender="health")
    p.sources.extend([("health", "ok", 3.5), ("police", "timeout", None)])
    return p


SELECTION = (
    Sel("__typename", "__typename"),
    Sel("id", "id"),
    Sel("name", "n", [Sel("given", "given"), Sel("__typename", "t")]),
    Sel("name", "surname", [Sel("family", "family")]),
    Sel("dateOfBirth", "dateOfBirth"),
    Sel("gender", "gender"),
    Sel("matchGrade", "matchGrade"),
    Sel("sources", "sources", [Sel("agency", "agency"), Sel("status", "status")]),
)


def nodes(p: Profile, **derived: Any) -> dict[str, Any]:
    """The child's fields as the pipeline hands them to policy, with the gateway's own fields."""
    sources = [{"agency": a, "status": s, "latencyMs": ms} for a, s, ms in p.sources]
    return child_nodes(p, {"matchGrade": "certain", "warnings": [], "sources": sources, "conflicts": [], **derived})


def build(table: FieldTable, decisions: dict[FieldClass, Decision], p: Profile | None = None) -> tuple[Any, Walk]:
    p = p or profile()
    walk = Walk(table)
    collect(walk, Child, SELECTION, nodes(p))
    walk.decisions = decisions
    return complete(walk, Child, SELECTION, nodes(p), PATH).data, walk


def test_the_answer_is_keyed_and_serialised_as_graphql_would(table: FieldTable) -> None:
    data, walk = build(table, Decisions())
    assert data == {
        "__typename": "Child",
        "id": "9434765919",
        "n": {"given": "Ada", "t": "Name"},
        "surname": {"family": "Lovelace"},
        "dateOfBirth": "2015-03-04",
        "gender": "female",
        "matchGrade": "CERTAIN",
        "sources": [{"agency": "health", "status": "ok"}, {"agency": "police", "status": "timeout"}],
    }
    assert "child.n.given" in walk.returned and "child.sources.1.status" in walk.returned
    assert not walk.withheld and not walk.agency_errors


def test_a_withheld_nullable_field_is_null_and_named(table: FieldTable) -> None:
    data, walk = build(table, Decisions("Child.dateOfBirth", "Name.given"))
    assert data["dateOfBirth"] is None and data["n"] == {"given": None, "t": "Name"}
    assert data["surname"] == {"family": "Lovelace"}
    assert {(w.path, w.reason) for w in walk.withheld} == {
        (("child", "dateOfBirth"), "NOT_FOR_TEST"),
        (("child", "n", "given"), "NOT_FOR_TEST"),
    }


def test_a_withheld_list_with_a_default_is_empty(table: FieldTable) -> None:
    data, walk = build(table, Decisions("Child.sources"))
    assert data["sources"] == []
    assert [w.path for w in walk.withheld] == [("child", "sources")]


def test_a_withheld_non_null_field_nulls_its_nearest_nullable_parent(table: FieldTable) -> None:
    # Source.status is String! in [Source!]! in Child.sources (non-null): GraphQL's rule takes the
    # null up to the child itself, the first field that may be null. Nothing of it is half-returned.
    data, walk = build(table, Decisions("Source.status"))
    assert data is None
    assert ("child", "sources", 0, "status") in [w.path for w in walk.withheld]


def test_a_value_of_the_wrong_type_is_null_with_the_agency_named(table: FieldTable) -> None:
    p = profile()
    p.fields["gender"] = {"code": "F"}
    p.fields["dateOfBirth"] = "2015-03-04"  # a string where the connector should have made a date
    data, walk = build(table, Decisions(), p)
    assert data["gender"] is None and data["dateOfBirth"] is None
    assert data["n"] == {"given": "Ada", "t": "Name"}
    errors = {path: err for path, err in walk.agency_errors}
    assert set(errors) == {("child", "gender"), ("child", "dateOfBirth")}
    assert all(e.code == "AGENCY_BAD_RESPONSE" and e.extensions["agency"] == "health" for e in errors.values())


def test_a_null_item_in_a_list_of_non_null_strings_nulls_the_list_and_says_so(table: FieldTable) -> None:
    p = profile()
    walk = Walk(table)
    selection = (Sel("id", "id"), Sel("warnings", "warnings"))
    collect(walk, Child, selection, nodes(p, warnings=["first", None]))
    walk.decisions = Decisions()
    data = complete(walk, Child, selection, nodes(p, warnings=["first", None]), PATH).data
    # warnings is [String!]!: the null item nulls the list, which may not be null, so the child is null
    assert data is None
    assert [path for path, _ in walk.agency_errors] == [("child", "warnings")]


def test_each_alias_of_conflict_values_gets_its_own_selection(table: FieldTable) -> None:
    p = profile()
    conflict = {"field": "dateOfBirth", "values": [{"agency": "health", "value": "2015-03-04"}]}
    conflict["values"].append({"agency": "police", "value": "2015-04-03"})  # type: ignore[attr-defined]
    values = [
        Sel("values", "who", [Sel("agency", "agency")]),
        Sel("values", "what", [Sel("value", "v"), Sel("__typename", "t")]),
    ]
    selection = (Sel("conflicts", "conflicts", [Sel("field", "field"), *values]),)
    walk = Walk(table)
    collect(walk, Child, selection, nodes(p, conflicts=[conflict]))
    walk.decisions = Decisions()
    data = complete(walk, Child, selection, nodes(p, conflicts=[conflict]), PATH).data
    assert data == {
        "conflicts": [
            {
                "field": "dateOfBirth",
                "who": [{"agency": "health"}, {"agency": "police"}],
                "what": [{"v": "2015-03-04", "t": "ConflictValue"}, {"v": "2015-04-03", "t": "ConflictValue"}],
            }
        ]
    }
