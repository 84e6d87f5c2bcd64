"""Connector paths are compiled to Python; they must mean exactly what JMESPath says they mean."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

import jmespath
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.agencies.mapping import compile_path, compile_spec
from gateway.config import PROJECT_ROOT
from gateway.errors import ConfigError

ROOT = PROJECT_ROOT

# Every node type the interpreter knows, plus the shapes connectors use.
EXPRESSIONS = [
    "a",
    "a.b.c",
    "a[0]",
    "a[-1].b",
    "a[1:3]",
    "a[::-1]",
    "a[]",
    "a[].b[]",
    "a[*].b",
    "a.*",
    "a.*.b",
    "a[?b=='x'].c | [0]",
    "a[?b!='x']",
    "a[?b > `1`].c",
    "a[?b <= c]",
    "a[?b]",
    "a[?!b]",
    "a[?b && c]",
    "a[?b || c].d",
    "!a",
    "a && b",
    "a || b",
    "[a, b.c]",
    "{x: a, y: b[0]}",
    "`[1, 2]`",
    "'lit'",
    "@",
    "[@]",
    "a | [0]",
    "length(a)",
    "sort_by(a, &b)[0]",
]


def connector_paths() -> list[str]:
    """Every string a connector file uses as a path (not its settings, templates or lookup tables)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str):
            if not node.startswith("/") and "{" not in node:
                found.add(node)
        elif isinstance(node, dict):
            for k, v in node.items():
                if k not in _NOT_PATHS:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for file in (ROOT / "connectors").glob("*.yaml"):
        walk(yaml.safe_load(file.read_text()))
    return sorted(p for p in found if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", p))  # dotted: see "a.b.c"


_NOT_PATHS = {  # connector keys whose values are settings or data, not paths
    "agency",
    "title",
    "base_url",
    "credential",
    "timeout_ms",
    "max_body_bytes",
    "health",
    "presence_label",
    "by",
    "from",
    "key",
    "adapter",
    "params",
    "not_found",
    "resilience",
    "const",
    "date",
    "map",
    "type",
    "default",
    "upper",
    "lower",
}


def vocabulary(node: Any, names: set[str], literals: list[Any]) -> None:
    """The field names and literals an expression uses: documents are built from them, so the
    expression finds something to select, filter and compare."""
    if isinstance(node, dict):
        if node.get("type") == "field":
            names.add(node["value"])
        elif node.get("type") == "literal" and not isinstance(node["value"], (list, dict)):
            literals.append(node["value"])
        for child in node.get("children", []):
            vocabulary(child, names, literals)


@functools.cache
def documents(expr: str) -> st.SearchStrategy[Any]:
    names: set[str] = {"z"}
    literals: list[Any] = []
    vocabulary(jmespath.compile(expr).parsed, names, literals)
    scalars = st.one_of(
        st.none(), st.booleans(), st.sampled_from([0, 1, 2, -1, 0.0, "", "x", *literals]), st.integers(-3, 3)
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(sorted(names)), inner, max_size=4)
        ),
        max_leaves=20,
    )


@pytest.mark.parametrize("expr", EXPRESSIONS + connector_paths())
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_compiled_path_gives_what_jmespath_gives(expr: str, data: st.DataObject) -> None:
    document = data.draw(documents(expr))
    assert outcome(compile_path(expr), document) == outcome(lambda d: jmespath.search(expr, d), document)


def outcome(search: Any, document: Any) -> tuple[str, Any]:
    """The result, or the kind of error (a function given the wrong type raises in both)."""
    try:
        return "ok", search(document)
    except (jmespath.exceptions.JMESPathError, ValueError, TypeError) as exc:  # as the link stage catches
        return "error", type(exc)


def test_every_connector_path_is_checked() -> None:
    paths = connector_paths()
    assert "identifier[?system=='https://fhir.nhs.uk/Id/nhs-number'].value | [0]" in paths
    assert "EarlyHelp.LeadProfessional && !AllocatedWorker" in paths
    assert len(paths) >= 15


@pytest.mark.parametrize(
    "text", ["2020-01-05", "2020-1-5", "2020-02-30", "20200105", "2020-W01-1", "", "x", "2020-01-05 "]
)
def test_dates_in_the_iso_format_are_read_as_strptime_reads_them(text: str) -> None:
    read = compile_spec({"path": "d", "date": "%Y-%m-%d"}, "test")

    def strptime(value: str) -> Any:
        return None if value == "" else dt.datetime.strptime(value, "%Y-%m-%d").date()

    assert outcome(lambda d: read({"d": d}), text) == outcome(strptime, text)


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("%Y-%q-%d", "'%Y-%q-%d' is not a date format: 'q' is a bad directive"),
        ("%Y-%m", "'%Y-%m' does not give a whole date"),
        ("YYYY-MM-DD", "expected a strptime format"),
        (20140302, "expected a strptime format"),
    ],
)
def test_a_date_format_that_cannot_read_a_date_stops_loading(fmt: object, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"nursery.yaml: dob.date: {problem}")):
        compile_spec({"path": "dob", "date": fmt}, "nursery.yaml: dob")


def test_every_date_format_in_the_shipped_connectors_reads_dates() -> None:
    formats = re.findall(r'date: "([^"]+)"', "".join(p.read_text() for p in (ROOT / "connectors").glob("*.yaml")))
    assert len(formats) > 10
    for fmt in formats:
        assert compile_spec({"path": "d", "date": fmt}, "x")({"d": dt.date(2014, 3, 2).strftime(fmt)}) == dt.date(
            2014, 3, 2
        )


def test_an_agency_value_that_does_not_fit_is_logged_once_by_file_and_key_never_by_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    extract = compile_spec({"path": "dob", "date": "%d/%m/%Y"}, "connectors/nursery.yaml: record.demographics.dob")
    with caplog.at_level("WARNING", logger="gateway.mapping"):
        for _ in range(3):
            with pytest.raises(ValueError):
                extract({"dob": "2014-03-02"})
    [record] = caplog.records
    assert record.mapping == "connectors/nursery.yaml: record.demographics.dob"  # type: ignore[attr-defined]
    assert record.expected == "date format '%d/%m/%Y'"  # type: ignore[attr-defined]
    assert record.shape == "9999-99-99"  # type: ignore[attr-defined]
    assert "2014" not in caplog.text
