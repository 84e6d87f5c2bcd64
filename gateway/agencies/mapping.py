"""The small mapping language connector files use to turn an agency's records into the schema's shapes.

A spec is one of::

    "a.b.c"                                   a path (JMESPath, compiled to Python closures)
    {const: "School"}                          a constant
    {path: "DateOfBirth", date: "%Y%m%d"}      a date in the agency's own format
    {path: "ShieldFlag", map: {Y: true, N: false}}   a lookup table (unknown values become null)
    {path: "attendance.percentage", type: float}      a number
    {path: "AllocatedWorker", fields: {...}}   an object (null when the path is null)
    {each: "Consents", fields: {...}}          a list of objects

Specs are compiled once, when the connector is loaded, into plain functions. JMESPath expressions
become nested closures with the interpreter's exact semantics (:func:`compile_jmespath`): the tree
interpreter re-dispatches on every node of every record, which was a third of the fan-out's CPU.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any

import jmespath
from jmespath import visitor
from jmespath.visitor import Options, TreeInterpreter

from gateway.errors import ConfigError

log = logging.getLogger("gateway.mapping")

Extractor = Callable[[Any], Any]
_CASTS: dict[str, Callable[[Any], Any]] = {"int": int, "float": float, "str": str, "bool": bool}


def compile_path(expr: Any, where: str = "path") -> Extractor:
    """A JMESPath expression as a Python function; ``where`` names it in the error if it does not parse."""
    if not isinstance(expr, str):
        raise ConfigError(f"{where}: expected a path (a string), got {type(expr).__name__}")
    try:
        compiled = jmespath.compile(expr)
    except jmespath.exceptions.JMESPathError as exc:
        detail = getattr(exc, "msg", None) or str(exc).splitlines()[0]
        column = getattr(exc, "lex_position", None)
        at = f" at column {column + 1}" if isinstance(column, int) else ""
        raise ConfigError(f"{where}: bad path {expr!r}: {detail}{at}") from None
    return compile_jmespath(compiled.parsed)  # type: ignore[arg-type]  # the stubs' node type is a TypedDict


_INTERPRETER = TreeInterpreter(Options())
# JMESPath's own truth and ordering rules, so compiled paths mean exactly what the interpreter means (private
# helpers of the library, which its stubs leave out).
_is_actual_number: Callable[[Any], bool] = visitor._is_actual_number  # type: ignore[attr-defined]
_is_comparable: Callable[[Any], bool] = visitor._is_comparable  # type: ignore[attr-defined]
_EQUALITY_OPS: frozenset[str] = frozenset(TreeInterpreter._EQUALITY_OPS)  # type: ignore[attr-defined]


def _false(value: Any) -> bool:
    """JMESPath's falsiness: empty string, list or object, null and false (0 is true)."""
    return value == "" or value == [] or value == {} or value is None or value is False


def compile_jmespath(node: dict[str, Any]) -> Extractor:
    """A parsed JMESPath expression as a Python closure that gives what ``jmespath.search`` gives.

    Every node type the interpreter knows is either compiled here or (functions, expression
    references) handed to the interpreter for that subtree, so no expression changes meaning.
    """
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        key = node["value"]
        return lambda v: v.get(key) if isinstance(v, dict) else None
    if kind in ("subexpression", "index_expression", "pipe"):
        steps = [compile_jmespath(c) for c in children]

        def chain(v: Any) -> Any:
            for step in steps:
                v = step(v)
            return v

        return chain
    if kind in ("identity", "current"):
        return lambda v: v
    if kind == "literal":
        literal = node["value"]
        return lambda v: literal
    if kind == "index":
        at = node["value"]

        def index(v: Any) -> Any:
            if not isinstance(v, list):
                return None
            try:
                return v[at]
            except IndexError:
                return None

        return index
    if kind == "slice":
        cut = slice(*children)
        return lambda v: v[cut] if isinstance(v, list) else None
    if kind == "comparator":
        return _comparator(node["value"], compile_jmespath(children[0]), compile_jmespath(children[1]))
    if kind in ("projection", "filter_projection", "value_projection"):
        return _projection(kind, [compile_jmespath(c) for c in children])
    if kind == "flatten":
        base = compile_jmespath(children[0])

        def flatten(v: Any) -> Any:
            items = base(v)
            if not isinstance(items, list):
                return None
            merged: list[Any] = []
            for item in items:
                if isinstance(item, list):
                    merged.extend(item)
                else:
                    merged.append(item)
            return merged

        return flatten
    if kind == "multi_select_list":
        parts = [compile_jmespath(c) for c in children]
        return lambda v: None if v is None else [part(v) for part in parts]
    if kind == "multi_select_dict":
        pairs = [(c["value"], compile_jmespath(c["children"][0])) for c in children]
        return lambda v: None if v is None else {name: part(v) for name, part in pairs}
    if kind in ("or_expression", "and_expression"):
        left, right = compile_jmespath(children[0]), compile_jmespath(children[1])
        if kind == "or_expression":
            return lambda v: right(v) if _false(m := left(v)) else m
        return lambda v: m if _false(m := left(v)) else right(v)
    if kind == "not_expression":
        inner = compile_jmespath(children[0])

        def negate(v: Any) -> Any:
            result = inner(v)
            if _is_actual_number(result) and result == 0:
                return False  # !0 is false: 0 is not falsy in JMESPath
            return not result

        return negate
    return lambda v: _INTERPRETER.visit(node, v)  # type: ignore[arg-type]  # functions, expression references


def _comparator(op: str, left: Extractor, right: Extractor) -> Extractor:
    compare = TreeInterpreter.COMPARATOR_FUNC[op]
    if op in _EQUALITY_OPS:
        return lambda v: compare(left(v), right(v))

    def ordered(v: Any) -> Any:  # ordering is only defined for numbers and strings
        a, b = left(v), right(v)
        if not (_is_comparable(a) and _is_comparable(b)):
            return None
        return compare(a, b)

    return ordered


def _projection(kind: str, parts: list[Extractor]) -> Extractor:
    base, each = parts[0], parts[1]
    keep = parts[2] if kind == "filter_projection" else None

    def project(v: Any) -> Any:
        items = base(v)
        if kind == "value_projection":
            if not isinstance(items, dict):
                return None
            items = list(items.values())
        elif not isinstance(items, list):
            return None
        collected = []
        for item in items:
            if keep is not None and _false(keep(item)):
                continue
            current = each(item)
            if current is not None:
                collected.append(current)
        return collected

    return project


def compile_spec(spec: Any, where: str) -> Extractor:
    """Compile one spec; ``where`` names it in error messages (``connector.yaml: sections.police.kind``)."""
    if isinstance(spec, str):
        return compile_path(spec, where)
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a path or a mapping, got {type(spec).__name__}")
    known = {"const", "path", "date", "map", "type", "fields", "each", "upper", "lower", "default"}
    if unknown := set(spec) - known:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    if "const" in spec:
        value = spec["const"]
        return lambda record: value
    if "each" in spec:
        items = compile_path(spec["each"], f"{where}.each")
        inner = _compile_fields(spec.get("fields"), where)

        def each(record: Any) -> Any:
            values = items(record)
            if values is None:
                return []
            if not isinstance(values, list):
                values = [values]
            return [inner(v) for v in values if v is not None]

        return each
    source = compile_path(spec.get("path", "@"), f"{where}.path")
    if "fields" in spec:
        inner = _compile_fields(spec["fields"], where)

        def obj(record: Any) -> Any:
            value = source(record)
            return None if value is None else inner(value)

        return obj
    steps: list[Callable[[Any], Any]] = []
    if "date" in spec:
        fmt = check_date_format(spec["date"], f"{where}.date")
        steps.append(_iso_date if fmt == "%Y-%m-%d" else lambda v: dt.datetime.strptime(v, fmt).date())
    if "map" in spec:
        if not isinstance(spec["map"], dict) or not spec["map"]:
            raise ConfigError(f"{where}.map: expected a mapping of the agency's values to the schema's")
        table = {str(k): v for k, v in spec["map"].items()}
        steps.append(lambda v: table.get(str(v)))
    if "type" in spec:
        if spec["type"] not in _CASTS:
            raise ConfigError(f"{where}: type must be one of {sorted(_CASTS)}")
        steps.append(_CASTS[spec["type"]])
    for flag in ("upper", "lower"):
        if not isinstance(spec.get(flag, False), bool):
            raise ConfigError(f"{where}.{flag}: expected true or false")
    if spec.get("upper"):
        steps.append(lambda v: str(v).upper())
    if spec.get("lower"):
        steps.append(lambda v: str(v).lower())
    default = spec.get("default")
    what = f"date format {spec['date']!r}" if "date" in spec else f"type {spec['type']}" if "type" in spec else None
    reported = False

    def convert(record: Any) -> Any:
        nonlocal reported
        value = source(record)
        if value is None or value == "":
            return default
        try:
            for step in steps:
                value = step(value)
                if value is None:
                    return default
        except (TypeError, ValueError):
            if not reported:  # once per mapping: every request would otherwise repeat it
                reported = True
                _misfit(where, what, value)
            raise
        return value

    return convert


_EXAMPLE = dt.datetime(2004, 11, 23, 13, 45, 56)


def check_date_format(fmt: Any, where: str) -> str:
    """A ``strptime`` format that reads back a whole date, or :class:`ConfigError` naming the problem.

    Checked by writing a known date in the format and reading it back: an unknown directive (``%q``) and a
    format without a year, month or day all fail here, at load, instead of in every request.
    """
    if not isinstance(fmt, str) or "%" not in fmt:
        raise ConfigError(f"{where}: expected a strptime format such as '%d/%m/%Y', got {fmt!r}")
    try:
        text = _EXAMPLE.strftime(fmt)
        back = dt.datetime.strptime(text, fmt).date()
    except ValueError as exc:
        raise ConfigError(f"{where}: {fmt!r} is not a date format: {exc}") from None
    if back != _EXAMPLE.date():
        raise ConfigError(f"{where}: {fmt!r} does not give a whole date (year, month and day)")
    return fmt


def _misfit(where: str, what: str | None, value: Any) -> None:
    """Say that an agency's value did not fit its mapping: the agency's part is then AGENCY_BAD_RESPONSE, and
    this line names the connector file and key to look at. The value is a child's data, so only its shape
    is logged (digits as 9, letters as a)."""
    shape = re.sub(r"[0-9]", "9", re.sub(r"[^\W\d_]", "a", str(value)))[:40] if isinstance(value, str) else None
    log.warning(
        "agency value does not fit its mapping",
        extra={"mapping": where, "expected": what, "shape": shape, "valueType": type(value).__name__},
    )


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> dt.date:
    """``%Y-%m-%d`` as strptime reads it; the common, zero-padded form without strptime's cost."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return dt.date.fromisoformat(value)
    return dt.datetime.strptime(value, "%Y-%m-%d").date()


def _compile_fields(fields: Any, where: str) -> Extractor:
    if not isinstance(fields, dict) or not fields:
        raise ConfigError(f"{where}: 'fields' must be a non-empty mapping")
    compiled = [(name, compile_spec(spec, f"{where}.{name}")) for name, spec in fields.items()]

    def build(record: Any) -> dict[str, Any]:
        return {name: fn(record) for name, fn in compiled}

    return build


def compile_fields(fields: Any, where: str) -> Extractor:
    return _compile_fields(fields, where)
