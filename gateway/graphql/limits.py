"""Parse & limit: every document is refused before anything runs if it is too deep, too costly, not
trusted, or introspection where that is off. (The body's size is refused earlier, by
:class:`gateway.server.http.BodyLimit`; requests per practitioner by :mod:`gateway.pipeline.quota`.)

Order, cheapest first: the request body's size (ASGI, before JSON is parsed); trusted documents (before
parsing); tokens (during parsing); depth, aliases, cost and introspection (validation rules, cached per
document). A rejection carries a stable ``extensions.code`` and no agency is ever called for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import orjson
from cachetools import LRUCache
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    parse,
    validate,
)
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.schema import validate_document

from gateway.config import Settings
from gateway.errors import ConfigError, DocumentNotTrusted

# Cost: every field costs 1; these cost more because each asks agencies (child: every agency once;
# search: health and every agency that supplies facts, for up to ten candidates). A list multiplies its
# items' cost by its size: the coordinate's entry here, or DEFAULT_LIST_SIZE.
FIELD_WEIGHTS: dict[str, int] = {"Query.child": 10, "Query.searchChildren": 20}
LIST_SIZES: dict[str, int] = {
    "Query.searchChildren": 10,
    "Query.services": 100,
    "Query.schools": 100,
    "Query.gpPractices": 100,
    "Query.accessLog": 50,  # read from the audit trail, no agency asked: an auditor may select every field
    "Child.involvements": 20,
}
DEFAULT_LIST_SIZE = 10


def _named_type(t: Any) -> tuple[Any, bool]:
    is_list = False
    while isinstance(t, (GraphQLNonNull, GraphQLList)):
        is_list = is_list or isinstance(t, GraphQLList)
        t = t.of_type
    return t, is_list


def query_cost(schema: Any, operation: OperationDefinitionNode, fragments: Mapping[str, Any]) -> int:
    """The cost of one operation: fields count 1 (or their weight), lists count by their size."""

    def cost(selection_set: SelectionSetNode | None, parent: Any, seen: frozenset[str]) -> int:
        if selection_set is None or not isinstance(parent, GraphQLObjectType):
            return 0
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                name = node.name.value
                if name.startswith("__"):
                    total += 1
                    continue
                definition = parent.fields.get(name)
                if definition is None:
                    continue
                coordinate = f"{parent.name}.{name}"
                inner, is_list = _named_type(definition.type)
                below = cost(node.selection_set, inner, seen)
                size = LIST_SIZES.get(coordinate, DEFAULT_LIST_SIZE) if is_list else 1
                total += FIELD_WEIGHTS.get(coordinate, 1) + size * below
            elif isinstance(node, InlineFragmentNode):
                target = schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                total += cost(node.selection_set, target, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:  # unknown or cyclic: validation reports it
                    continue
                target = schema.get_type(fragment.type_condition.name.value)
                total += cost(fragment.selection_set, target, seen | {name})
        return total

    root = schema.get_root_type(operation.operation)
    return cost(operation.selection_set, root, frozenset())


def _cost_rule(max_cost: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            document = self.context.document
            fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
            total = query_cost(self.context.schema, node, fragments)
            if total > max_cost:
                self.report_error(
                    GraphQLError(
                        f"query cost {total} exceeds the maximum of {max_cost} (lists count by their size)",
                        node,
                        extensions={"code": "QUERY_TOO_COMPLEX", "cost": total, "maxCost": max_cost},
                    )
                )

    return CostLimit


class NoIntrospection(ValidationRule):
    """``__schema`` and ``__type`` refused (``__typename`` stays: clients need it)."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value in ("__schema", "__type"):
            self.report_error(
                GraphQLError(
                    "introspection is disabled on this gateway", node, extensions={"code": "INTROSPECTION_DISABLED"}
                )
            )


class TrustedDocuments:
    """Registered documents by id (``sha256:<hex>`` of the text), as practitioner apps register them."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self.documents = dict(documents)

    @classmethod
    def load(cls, path: Path) -> TrustedDocuments:
        """A JSON object ``{"sha256:<hex>": text}`` (GraphQL Codegen's persisted documents) or an Apollo
        persisted-query manifest. Every id must be the hash of its text."""
        try:
            raw = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(f"trusted documents {path}: {exc}") from exc
        if isinstance(raw, dict) and isinstance(raw.get("operations"), list):
            pairs = [(op.get("id"), op.get("body")) for op in raw["operations"] if isinstance(op, dict)]
        elif isinstance(raw, dict):
            pairs = list(raw.items())
        else:
            raise ConfigError(f"trusted documents {path}: expected a JSON object")
        documents: dict[str, str] = {}
        for key, text in pairs:
            if not isinstance(key, str) or not isinstance(text, str):
                raise ConfigError(f"trusted documents {path}: every entry needs an id and a document text")
            digest = document_id(text)
            if key.removeprefix("sha256:") != digest.removeprefix("sha256:"):
                raise ConfigError(f"trusted documents {path}: id {key!r} is not the SHA-256 of its document")
            documents[digest] = text
        return cls(documents)

    def check(self, schema: Any) -> None:
        """Every registered document parses and is valid against ``schema`` (a Strawberry schema): one that is not
        would be refused on every request, so it stops start-up instead, named by its id."""
        for key, text in self.documents.items():
            try:
                problems = validate(schema._schema, parse(text))
            except GraphQLError as exc:
                problems = [exc]
            if problems:
                first = problems[0]
                at = f" (line {first.locations[0].line})" if first.locations else ""
                raise ConfigError(f"trusted document {key[:19]}...: {first.message}{at}")

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str:
        """The document to run, or :class:`DocumentNotTrusted`."""
        ext = extensions or {}
        persisted = ext.get("persistedQuery")
        wanted = ext.get("documentId") or (persisted.get("sha256Hash") if isinstance(persisted, dict) else None)
        if isinstance(wanted, str):
            key = wanted if wanted.startswith("sha256:") else f"sha256:{wanted}"
            text = self.documents.get(key)
            if text is None:
                raise DocumentNotTrusted(f"document {key} is not registered")
            if query and query != text:
                raise DocumentNotTrusted("the document sent does not match the registered document")
            return text
        if query and document_id(query) in self.documents:
            return query
        raise DocumentNotTrusted("only registered documents run here; send the documentId of a registered document")


def document_id(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class _TrustedDocumentsExtension(SchemaExtension):
    registry: ClassVar[TrustedDocuments]

    def on_operation(self) -> Iterator[None]:
        ec = self.execution_context
        ec.query = self.registry.resolve(ec.query, ec.operation_extensions)
        yield


class _ValidationByText(SchemaExtension):
    """Validation results, cached by the document's text and the rules in force.

    Strawberry's ``ValidationCache`` keys its LRU by the parsed document. graphql-core's AST nodes are
    frozen dataclasses hashed field by field, uncached, so every lookup hashed the whole tree again
    (~560 hashes per full child profile). The text is one string hash; the parser cache already maps
    each text to one document, so the two keys name the same validation.
    """

    cache: ClassVar[LRUCache[tuple[str, tuple[type[ASTValidationRule], ...]], list[GraphQLError]]]

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.query is not None and ec.graphql_document is not None and ec.validation_rules:
            rules = tuple(ec.validation_rules)
            key = (ec.query, rules)
            errors = self.cache.get(key)
            if errors is None:
                errors = self.cache[key] = validate_document(ec.schema._schema, ec.graphql_document, rules)
            ec.pre_execution_errors = errors
        yield


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories, as Strawberry intends: a fresh extension per request. The parse cache lives in
    Strawberry at module level, keyed by size; the validation cache is made here, once per schema; both
    are shared across requests.

    Every validation rule class is made once, here: Strawberry's depth and alias limiters build a new
    rule class per instance, and the validation cache is keyed by the rule classes, so per-request
    instances would make every request a cache miss (measured: 18 ms of validation per full profile).
    """
    rules: list[type[ASTValidationRule]] = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        _cost_rule(settings.max_cost),
    ]
    introspection = settings.introspection if settings.introspection is not None else settings.mode == "development"
    if not introspection:
        rules.append(NoIntrospection)
    frozen = tuple(rules)
    factories: list[Callable[[], SchemaExtension]] = []
    if settings.trusted_documents == "require":
        if settings.trusted_documents_path is None:
            raise ConfigError("trusted_documents=require needs trusted_documents_path")
        registry = TrustedDocuments.load(settings.trusted_documents_path)
        factories.append(type("TrustedDocumentsOnly", (_TrustedDocumentsExtension,), {"registry": registry}))
    factories += [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: AddValidationRules(list(frozen)),
        type("ValidationByText", (_ValidationByText,), {"cache": LRUCache(maxsize=512)}),
    ]
    return factories
