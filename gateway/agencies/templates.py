"""Path and query templates in connector files: ``/fhir/Patient/{nhs_number}``, ``{dob:%d/%m/%Y}``.

A placeholder names a value the gateway knows about the child when it calls (:data:`PLACEHOLDERS`),
optionally with a date format. Templates are parsed once and filled per call, each value percent-encoded.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^}]*))?\}")
PLACEHOLDERS = frozenset({"nhs_number", "given", "family", "dob", "postcode", "key"})
"""What a lookup may be filled with: the NHS number, the spine's demographics, a cross-reference key."""


class MissingValue(Exception):
    """A placeholder has no value for this child (the lookup cannot run)."""


@functools.lru_cache(maxsize=4096)
def parse(template: str) -> tuple[tuple[str, str | None, str | None], ...]:
    """A template as (literal, placeholder, date format) parts, parsed once."""
    parts: list[tuple[str, str | None, str | None]] = []
    pos = 0
    for m in PLACEHOLDER.finditer(template):
        parts.append((template[pos : m.start()], m.group(1), m.group(2)))
        pos = m.end()
    parts.append((template[pos:], None, None))
    return tuple(parts)


def placeholders(template: str) -> list[str]:
    return [name for _, name, _ in parse(template) if name is not None]


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quote(text: str) -> str:
    """Percent-encoded as ``quote(text, safe="")``; identifiers and dates need no encoding, so skip it."""
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="")


def fill(template: str, values: Mapping[str, Any]) -> str:
    """The template with its placeholders filled, each value percent-encoded; :class:`MissingValue` if one
    has no value."""
    out: list[str] = []
    for literal, name, fmt in parse(template):
        out.append(literal)
        if name is None:
            continue
        value = values.get(name)
        if value is None or value == "":
            raise MissingValue(name)
        if isinstance(value, dt.date):
            value = value.strftime(fmt or "%Y-%m-%d")
        out.append(_quote(str(value)))
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def query_template(params: tuple[tuple[str, str], ...]) -> str:
    """A lookup's query parameters as one template (``family={family}&...``): keys encoded once here,
    values as they are filled; what ``urlencode(..., quote_via=quote)`` gives, without its per-call cost."""

    def encoded(template: str) -> str:  # literal text encoded now; placeholders kept for fill()
        return "".join(
            quote(literal, safe="") + ("" if name is None else "{" + name + (f":{fmt}" if fmt else "") + "}")
            for literal, name, fmt in parse(template)
        )

    return "&".join(f"{quote(key, safe='')}={encoded(template)}" for key, template in params)
