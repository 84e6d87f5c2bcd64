"""Every schema field carries a label; a field without one stops start-up, naming it."""

from __future__ import annotations

import graphql
import pytest
import strawberry

from gateway.agencies.connectors import SECTIONS, load_connectors
from gateway.config import PROJECT_ROOT, load_settings
from gateway.errors import ConfigError
from gateway.graphql.labels import field_table
from gateway.graphql.schema import Child, LabelDirective, Name, labelled
from gateway.server.app import build_schema
from gateway.types import Label
from resolvers import Query


def test_every_field_of_every_type_in_the_published_schema_has_exactly_one_known_label() -> None:
    # Read the SDL a client sees, independently of the gateway's own table.
    document = graphql.parse(build_schema(load_settings()).as_str())
    known = {label.value for label in Label}
    checked, unlabelled = 0, []
    for definition in document.definitions:
        if not isinstance(definition, graphql.ObjectTypeDefinitionNode):
            continue
        for f in definition.fields or ():
            labels = [d for d in f.directives or () if d.name.value == "label"]
            names = [graphql.print_ast(a.value).strip('"') for d in labels for a in d.arguments or ()]
            if len(names) != 1 or names[0] not in known:
                unlabelled.append(f"{definition.name.value}.{f.name.value}")
            checked += 1
    assert unlabelled == []
    assert checked > 100  # the whole schema was walked, not an empty one

    # The gateway's table agrees with the SDL field for field.
    table = field_table(build_schema(load_settings()), (Query, Child))
    assert sum(len(fields) for fields in table.values()) == checked


@strawberry.type
class Leaky:
    fine: str | None = labelled(Label.IDENTITY, default=None)
    secret: str | None = None


@strawberry.type
class LeakyRoot:
    name: Name | None = labelled(Label.IDENTITY, default=None)
    leaky: Leaky | None = labelled(Label.CASE, default=None)


@strawberry.type
class OddRoot:
    odd: str | None = strawberry.field(default=None, directives=[LabelDirective(name="secretish")])


def test_a_field_without_a_label_stops_start_up_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"schema fields without a label: Leaky\.secret$"):
        field_table(strawberry.Schema(query=LeakyRoot), (LeakyRoot,))


def test_a_made_up_label_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"OddRoot\.odd \(unknown label 'secretish'\)"):
        field_table(strawberry.Schema(query=OddRoot), (OddRoot,))


def test_involvement_labels_depend_on_the_service() -> None:
    connectors = load_connectors([PROJECT_ROOT / "connectors"], {}, spine="health", development=True)
    labels = {name: {i.label for i in c.spec.involvements} for name, c in connectors.items() if c.spec.involvements}
    assert labels["camhs"] == {Label.SENSITIVE} and labels["sexual-health"] == {Label.SENSITIVE}
    assert labels["education"] == {Label.INVOLVEMENT}
    assert labels["police"] == {Label.RESTRICTED}


def test_the_sections_connectors_fill_are_the_schemas_child_fields_and_their_fields() -> None:
    """``SECTIONS`` (what a connector may map) is written once, by hand: it must say what the schema says."""
    schema = build_schema(load_settings())._schema
    child = schema.type_map["Child"]
    assert isinstance(child, graphql.GraphQLObjectType)

    def fields_of(field: str) -> set[str]:
        named = graphql.get_named_type(child.fields[field].type)
        return set(named.fields) if isinstance(named, graphql.GraphQLObjectType) else set()

    for name, section in SECTIONS.items():
        assert set(section.child_fields) <= set(child.fields), name
        if name == "identity":  # name {given family} and the Child's own leaves
            expected = fields_of("name") | set(section.child_fields) - {"name"}
        else:
            (field,) = section.child_fields
            expected = fields_of(field)
        assert set(section.fields) == expected, name
