"""Parse & limit: every document is parsed and validated once (cached), within depth, alias and token limits;
and searches are rate-limited per practitioner, so the index cannot be scraped."""

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
from gateway.errors import ConfigError, RateLimited


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


class SearchRateLimiter:
    """A moving window per practitioner (the `limits` library; memory, or Redis to share across instances)."""

    def __init__(self, rate: str, storage_uri: str) -> None:
        from limits import parse_many, storage
        from limits.aio.strategies import MovingWindowRateLimiter

        try:
            self.items = parse_many(rate)
            self._limiter = MovingWindowRateLimiter(storage.storage_from_string(storage_uri))
        except ValueError as exc:
            raise ConfigError(f"search_rate {rate!r} / rate_limit_storage {storage_uri!r}: {exc}") from exc
        self.rate = rate

    async def check(self, practitioner_id: str) -> None:
        """Count one search; raise :class:`RateLimited` once any window is full."""
        for item in self.items:
            if not await self._limiter.hit(item, "search", practitioner_id):
                raise RateLimited(f"too many searches: at most {self.rate} per practitioner")
