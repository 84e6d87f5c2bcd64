"""Parse & limit: every document is parsed and validated once (cached), within depth, alias and token limits."""

from __future__ import annotations

from collections.abc import Callable

from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from gateway.config import Settings


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories, as Strawberry intends: a fresh extension per request; the parse and validation caches
    themselves live in Strawberry at module level, keyed by size, so they are shared across requests."""
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: QueryDepthLimiter(max_depth=settings.max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: ValidationCache(maxsize=512),
    ]
