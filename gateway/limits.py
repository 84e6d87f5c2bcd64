"""Parse & limit: every document is parsed and validated once (cached), within depth, alias and token limits."""

from __future__ import annotations

from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from gateway.config import Settings


def limit_extensions(settings: Settings) -> list[SchemaExtension]:
    return [
        MaxTokensLimiter(max_token_count=settings.max_tokens),
        ParserCache(maxsize=512),
        QueryDepthLimiter(max_depth=settings.max_depth),
        MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        ValidationCache(maxsize=512),
    ]
