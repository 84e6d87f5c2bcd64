"""Quotas: how many child look-ups and searches one practitioner may make, in moving windows.

The windows live in the `limits` library's storage: memory per worker, or Redis
(``WARDGATE_RATE_LIMIT_STORAGE=async+redis://host:6379``) to share them between workers and instances.
"""

from __future__ import annotations

from limits import parse_many, storage
from limits.aio.strategies import MovingWindowRateLimiter

from gateway.errors import ConfigError, RateLimited


class Quota:
    """A moving window per practitioner for one kind of request (``search``, ``child``)."""

    def __init__(self, kind: str, rate: str, storage_uri: str, *, noun: str) -> None:
        try:
            self.items = parse_many(rate)
            self._limiter = MovingWindowRateLimiter(storage.storage_from_string(storage_uri))
        except ValueError as exc:
            raise ConfigError(f"{kind}_rate {rate!r} / rate_limit_storage {storage_uri!r}: {exc}") from exc
        self.kind = kind
        self.rate = rate
        self.noun = noun

    async def check(self, practitioner_id: str) -> None:
        """Count one request; raise :class:`RateLimited` once any window is full."""
        for item in self.items:
            if not await self._limiter.hit(item, self.kind, practitioner_id):
                raise RateLimited(f"too many {self.noun}: at most {self.rate} per practitioner")
