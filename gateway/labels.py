"""Read every field's ``@label`` out of the schema, and refuse to start if any field lacks one.

The result, a :class:`FieldTable`, is what the policy stage walks: for each object type, each
field's schema name, Python attribute, label, and the type of object it holds (if any).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.types.base import StrawberryList, StrawberryOptional, get_object_definition

from gateway.errors import ConfigError
from gateway.schema import LabelDirective
from gateway.types import Label


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str  # schema (camelCase) name
    attr: str  # Python attribute
    label: Label
    coordinate: str  # Type.field
    target: type | None  # the object type it holds, if not a leaf
    is_list: bool


FieldTable = dict[type, dict[str, FieldInfo]]


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
            fields[gql_name] = FieldInfo(gql_name, f.python_name, label, coordinate, target, is_list)
        table[cls] = fields
    if missing:
        raise ConfigError("schema fields without a label: " + ", ".join(sorted(missing)))
    return table
