"""Read every field's ``@label`` out of the schema, and refuse to start if any field lacks one.

The result, a :class:`FieldTable`, is what the policy stage walks: for each object type, each
field's schema name, Python attribute, label, the type of object it holds (if any), and what GraphQL
needs to complete it (nullability, how a leaf value is serialised, what a withheld field becomes).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLScalarType
from strawberry.types.base import StrawberryList, StrawberryOptional, get_object_definition

from gateway.errors import ConfigError
from gateway.graphql.schema import LabelDirective
from gateway.types import Label


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str  # schema (camelCase) name
    attr: str  # Python attribute
    label: Label
    coordinate: str  # Type.field
    target: type | None  # the object type it holds, if not a leaf
    is_list: bool
    non_null: bool = False  # the field itself (String!)
    item_non_null: bool = False  # a list's items ([String!])
    serialize: Callable[[Any], Any] | None = None  # a leaf's GraphQL serialiser (scalar or enum)
    withheld: Any = None  # what the field holds when withheld: its default ([] for a list that defaults so)


FieldTable = dict[type, dict[str, FieldInfo]]


@functools.cache
def type_name(cls: type) -> str:
    """The GraphQL name of a Strawberry type (what ``__typename`` answers)."""
    return get_object_definition(cls, strict=True).name


def _completion(graphql_type: Any) -> dict[str, Any]:
    """Nullability and the leaf serialiser, read from the built GraphQL schema's field type."""
    non_null = isinstance(graphql_type, GraphQLNonNull)
    inner = graphql_type.of_type if non_null else graphql_type
    item_non_null = False
    if isinstance(inner, GraphQLList):
        item_non_null = isinstance(inner.of_type, GraphQLNonNull)
        inner = inner.of_type.of_type if item_non_null else inner.of_type
    leaf = isinstance(inner, (GraphQLScalarType, GraphQLEnumType))
    return {"non_null": non_null, "item_non_null": item_non_null, "serialize": inner.serialize if leaf else None}


def _withheld_value(f: Any) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    if f.default is not dataclasses.MISSING:
        return f.default
    return None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    is_list = False
    while True:
        if isinstance(annotation, StrawberryOptional):
            annotation = annotation.of_type
        elif isinstance(annotation, StrawberryList):
            annotation = annotation.of_type
            is_list = True
        else:
            return annotation, is_list


def field_table(schema: strawberry.Schema, roots: tuple[type, ...]) -> FieldTable:
    """Every object type reachable from ``roots``, each field with its label.

    Raises :class:`ConfigError` naming every unlabelled field (``Type.field``), so none slips through.
    """
    table: FieldTable = {}
    missing: list[str] = []
    pending = list(roots)
    while pending:
        cls = pending.pop()
        if cls in table:
            continue
        definition = get_object_definition(cls, strict=True)
        fields: dict[str, FieldInfo] = {}
        for f in definition.fields:
            gql_name = schema.config.name_converter.get_graphql_name(f)
            coordinate = f"{definition.name}.{gql_name}"
            labels = [d for d in f.directives if isinstance(d, LabelDirective)]
            if len(labels) != 1:
                missing.append(coordinate)
                continue
            try:
                label = Label(labels[0].name)
            except ValueError:
                missing.append(f"{coordinate} (unknown label {labels[0].name!r})")
                continue
            inner, is_list = _unwrap(f.type)
            target = inner if isinstance(inner, type) and get_object_definition(inner) is not None else None
            if target is not None:
                pending.append(target)
            graphql_field = schema._schema.type_map[definition.name].fields[gql_name]  # type: ignore[attr-defined]
            fields[gql_name] = FieldInfo(
                gql_name,
                f.python_name,
                label,
                coordinate,
                target,
                is_list,
                withheld=_withheld_value(f),
                **_completion(graphql_field.type),
            )
        table[cls] = fields
    if missing:
        raise ConfigError("schema fields without a label: " + ", ".join(sorted(missing)))
    return table


def cacheable_fields(table: FieldTable, root: type) -> frozenset[str]:
    """Coordinates (``Query.services``) of root fields whose whole answer is labelled ``directory``."""

    def all_directory(cls: type, seen: frozenset[type]) -> bool:
        if cls in seen:
            return True
        for info in table[cls].values():
            if info.label is not Label.DIRECTORY:
                return False
            if info.target is not None and not all_directory(info.target, seen | {cls}):
                return False
        return True

    return frozenset(
        info.coordinate
        for info in table[root].values()
        if info.label is Label.DIRECTORY and (info.target is None or all_directory(info.target, frozenset()))
    )
