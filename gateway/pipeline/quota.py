"""Quotas: how many child look-ups and searches one practitioner may make, in moving windows.

The windows live in the `limits` library's storage: memory per worker, or Redis
(``WARDGATE_RATE_LIMIT_STORAGE=async+redis://host:6379/0``) to share them between workers and instances.
Redis is reached through redis-py, already a dependency (`limits` would otherwise ask for coredis, which is
not installed, and stop start-up).

A Redis outage fails soft: while the shared windows cannot be reached, each worker counts in windows of its
own (so a practitioner may make up to the rate per worker, not without limit), logs it once, and
``/readyz`` says so; the shared windows are tried again every ``RETRY_S``.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string

from gateway.errors import ConfigError, RateLimited

log = logging.getLogger("gateway.quota")

RETRY_S = 5.0  # how long a worker counts on its own after the shared windows failed, before trying them again
REDIS_TIMEOUT_S = 0.25  # one rate-limit check may not hold a request up longer than this


def open_storage(uri: str) -> Storage:
    """The `limits` storage for ``uri``; Redis schemes through redis-py, with short timeouts."""
    options: dict[str, float | str | bool] = {"wrap_exceptions": True}
    if "redis" in uri.split("://", 1)[0]:
        options |= {
            "implementation": "redispy",
            "socket_timeout": REDIS_TIMEOUT_S,
            "socket_connect_timeout": REDIS_TIMEOUT_S,
        }
    try:
        store = storage_from_string(uri, **options)
    except (ConfigurationError, ValueError) as exc:
        raise ConfigError(f"rate_limit_storage {uri!r}: {exc}") from exc
    if not isinstance(store, Storage):
        raise ConfigError(f"rate_limit_storage {uri!r}: use an async storage (async+memory://, async+redis://...)")
    return store


class Quota:
    """A moving window per practitioner for one kind of request (``search``, ``child``)."""

    def __init__(self, kind: str, rate: str, storage_uri: str, *, noun: str) -> None:
        try:
            self.items = parse_many(rate)
        except ValueError as exc:
            raise ConfigError(f"{kind}_rate {rate!r}: {exc}") from exc
        self._store = open_storage(storage_uri)
        self.shared = not isinstance(self._store, MemoryStorage)
        self._limiter = MovingWindowRateLimiter(self._store)
        self._local = MovingWindowRateLimiter(MemoryStorage()) if self.shared else self._limiter
        self._local_until = 0.0  # while time.monotonic() is before this, count in this worker's own windows
        self.kind = kind
        self.rate = rate
        self.noun = noun

    @property
    def degraded(self) -> bool:
        """True while this worker counts in its own windows because the shared ones failed."""
        return time.monotonic() < self._local_until

    async def check(self, practitioner_id: str) -> None:
        """Count one request; raise :class:`RateLimited` once any window is full."""
        for item in self.items:
            if not await self._hit(item, practitioner_id):
                raise RateLimited(f"too many {self.noun}: at most {self.rate} per practitioner")

    async def _hit(self, item: RateLimitItem, practitioner_id: str) -> bool:
        if self._limiter is self._local or self.degraded:
            return await self._local.hit(item, self.kind, practitioner_id)
        try:
            allowed = await self._limiter.hit(item, self.kind, practitioner_id)
        except StorageError as exc:
            if not self._local_until:
                log.warning(
                    "shared rate-limit windows unreachable; counting per worker until they are back",
                    extra={"quota": self.kind, "error": type(exc.storage_error).__name__},
                )
            self._local_until = time.monotonic() + RETRY_S
            return await self._local.hit(item, self.kind, practitioner_id)
        if self._local_until:
            self._local_until = 0.0
            log.info("shared rate-limit windows reachable again", extra={"quota": self.kind})
        return allowed

    async def ready(self) -> str:
        """``memory``, ``redis reachable``, or ``redis unreachable`` (counting per worker)."""
        if not self.shared:
            return "memory"
        try:
            ok = await self._store.check()
        except StorageError:
            ok = False
        return "redis reachable" if ok else "redis unreachable"
