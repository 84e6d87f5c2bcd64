"""The selection of a field being resolved, flattened: fragments merged in, ``@skip``/``@include`` applied,
repeated response keys merged. Computed once per parsed document and reused by every request that sends it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField


@dataclass(slots=True)
class Sel:
    """One selected field, fragments already merged in: schema name, response key, sub-selections."""

    name: str
    key: str
    children: list[Sel] = field(default_factory=list)
    # The policy stage's per-(type, agency, label) view of the children, made on first use (see
    # ``gateway.pipeline.policy.classes.children_of``); it lives as long as the selection, which is cached per document.
    plans: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


def _skipped(directives: Mapping[str, Mapping[str, Any]]) -> bool:
    if "skip" in directives and directives["skip"].get("if"):
        return True
    return "include" in directives and not directives["include"].get("if", True)


def flatten(selections: Iterable[Any]) -> list[Sel]:
    """Strawberry's selection tree with fragments and @skip/@include resolved; repeated keys merged."""
    out: dict[str, Sel] = {}

    def visit(items: Iterable[Any]) -> None:
        for item in items:
            if isinstance(item, SelectedField):
                if _skipped(item.directives):
                    continue
                key = item.alias or item.name
                sel = out.get(key)
                children = flatten(item.selections) if item.selections else []
                if sel is None:
                    out[key] = Sel(item.name, key, children)
                else:
                    sel.children = _merge(sel.children, children)
            elif isinstance(item, (InlineFragment, FragmentSpread)):
                if not _skipped(item.directives):
                    visit(item.selections)

    visit(selections)
    return list(out.values())


class SelectionCache:
    """The flattened selection of the field being resolved, computed once per parsed document.

    Strawberry's parser cache hands every request with the same text the same document, so its field
    nodes identify the selection. A response key selected more than once (``child { a } child { b }``)
    has one node per occurrence and GraphQL merges them: so does this. Documents with directives
    (``@skip``/``@include`` depend on variables) are flattened per request. Treat results as read-only.
    """

    def __init__(self, maxsize: int = 512) -> None:
        self.maxsize = maxsize
        self._cache: dict[tuple[int, ...], tuple[tuple[Any, ...], list[Sel]]] = {}

    def of(self, info: Any) -> list[Sel]:
        nodes = tuple(info._raw_info.field_nodes)
        key = tuple(map(id, nodes))
        hit = self._cache.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], nodes, strict=True)):
            return hit[1]
        selection: list[Sel] = []
        for selected in info.selected_fields:
            selection = _merge(selection, flatten(selected.selections))
        body = nodes[0].loc.source.body if nodes[0].loc is not None else "@"
        if "@" not in body:
            if len(self._cache) >= self.maxsize:
                self._cache.clear()
            self._cache[key] = (nodes, selection)  # the nodes are kept alive, so their ids are not reused
        return selection


def _merge(a: list[Sel], b: list[Sel]) -> list[Sel]:
    merged = {s.key: s for s in a}
    for s in b:
        if s.key in merged:
            merged[s.key].children = _merge(merged[s.key].children, s.children)
        else:
            merged[s.key] = s
    return list(merged.values())
