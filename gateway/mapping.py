"""The small mapping language connector files use to turn an agency's records into the schema's shapes.

A spec is one of::

    "a.b.c"                                   a path (JMESPath; plain dotted paths take a fast route)
    {const: "School"}                          a constant
    {path: "DateOfBirth", date: "%Y%m%d"}      a date in the agency's own format
    {path: "ShieldFlag", map: {Y: true, N: false}}   a lookup table (unknown values become null)
    {path: "attendance.percentage", type: float}      a number
    {path: "AllocatedWorker", fields: {...}}   an object (null when the path is null)
    {each: "Consents", fields: {...}}          a list of objects

Specs are compiled once, when the connector is loaded, into plain functions.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import jmespath

from gateway.errors import ConfigError

Extractor = Callable[[Any], Any]
_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_CASTS: dict[str, Callable[[Any], Any]] = {"int": int, "float": float, "str": str, "bool": bool}


def compile_path(expr: str) -> Extractor:
    if expr == "@":
        return lambda record: record
    if _SIMPLE.match(expr):
        keys = expr.split(".")
        if len(keys) == 1:
            key = keys[0]
            return lambda record: record.get(key) if isinstance(record, dict) else None

        def dotted(record: Any) -> Any:
            for key in keys:
                if not isinstance(record, dict):
                    return None
                record = record.get(key)
            return record

        return dotted
    try:
        compiled = jmespath.compile(expr)
    except jmespath.exceptions.ParseError as exc:
        raise ConfigError(f"bad path {expr!r}: {exc}") from exc
    return compiled.search


def compile_spec(spec: Any, where: str) -> Extractor:
    """Compile one spec; ``where`` names it in error messages (``connector.yaml: sections.police.kind``)."""
    if isinstance(spec, str):
        return compile_path(spec)
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a path or a mapping, got {type(spec).__name__}")
    known = {"const", "path", "date", "map", "type", "fields", "each", "upper", "lower", "default"}
    if unknown := set(spec) - known:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    if "const" in spec:
        value = spec["const"]
        return lambda record: value
    if "each" in spec:
        items = compile_path(spec["each"])
        inner = _compile_fields(spec.get("fields"), where)

        def each(record: Any) -> Any:
            values = items(record)
            if values is None:
                return []
            if not isinstance(values, list):
                values = [values]
            return [inner(v) for v in values if v is not None]

        return each
    source = compile_path(spec.get("path", "@"))
    if "fields" in spec:
        inner = _compile_fields(spec["fields"], where)

        def obj(record: Any) -> Any:
            value = source(record)
            return None if value is None else inner(value)

        return obj
    steps: list[Callable[[Any], Any]] = []
    if "date" in spec:
        fmt = spec["date"]
        steps.append(lambda v: dt.datetime.strptime(v, fmt).date())
    if "map" in spec:
        table = {str(k): v for k, v in spec["map"].items()}
        steps.append(lambda v: table.get(str(v)))
    if "type" in spec:
        if spec["type"] not in _CASTS:
            raise ConfigError(f"{where}: type must be one of {sorted(_CASTS)}")
        steps.append(_CASTS[spec["type"]])
    if spec.get("upper"):
        steps.append(lambda v: str(v).upper())
    if spec.get("lower"):
        steps.append(lambda v: str(v).lower())
    default = spec.get("default")

    def convert(record: Any) -> Any:
        value = source(record)
        if value is None or value == "":
            return default
        for step in steps:
            value = step(value)
            if value is None:
                return default
        return value

    return convert


def _compile_fields(fields: Any, where: str) -> Extractor:
    if not isinstance(fields, dict) or not fields:
        raise ConfigError(f"{where}: 'fields' must be a non-empty mapping")
    compiled = [(name, compile_spec(spec, f"{where}.{name}")) for name, spec in fields.items()]

    def build(record: Any) -> dict[str, Any]:
        return {name: fn(record) for name, fn in compiled}

    return build


def compile_fields(fields: Any, where: str) -> Extractor:
    return _compile_fields(fields, where)
