"""Cache: the only place agency data is kept between requests, and only directory data may enter it.

What may be cached is decided from the schema's labels, not by the caller: a root field is cacheable
only if it is labelled ``directory`` and every field of every type it can return is too (services,
schools, GP practices, the practitioner directory). :meth:`DirectoryCache.get_or_fetch` refuses any
other field, so child data cannot reach the cache by mistake — adding a child-labelled field to a
directory type makes that type uncacheable, and its resolver fails loudly in tests rather than
caching it.

Backends (aiocache): memory per worker (the default), or Redis shared by every gateway instance
(``WARDGATE_CACHE_URL=redis://host:6379/0``). Every key is under a namespace and every entry has a
TTL. Many requests missing one key at once make one upstream call: within a worker they await the
same future; across instances sharing Redis, the first takes a short lock key (``add``, which is
atomic) and the others poll for the value until the lock's lease runs out. (aiocache's ``RedLock``
wakes waiters only in its own process; waiters elsewhere would sleep out the whole lease.)

If Redis is unreachable the gateway answers from the directory directly (counted as ``error``);
a cache outage never fails a request, and never makes one return stale data past its TTL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiocache import RedisCache, SimpleMemoryCache
from aiocache.base import BaseCache
from aiocache.serializers import JsonSerializer
from redis.exceptions import RedisError

from gateway.errors import ConfigError
from gateway.metrics import Metrics

log = logging.getLogger("gateway.cache")

LOCK_LEASE_S = 2.0
# What a cache backend raises when it is down or slow; anything else is a bug and is not swallowed.
BACKEND_ERRORS = (RedisError, OSError, TimeoutError)
POLL_S = 0.02


def open_backend(url: str, namespace: str, *, op_timeout_s: float = 1.0) -> BaseCache:
    """memory:// or redis://[:password@]host:port/db, each operation bounded by ``op_timeout_s``."""
    parts = urlsplit(url)
    common: dict[str, Any] = {
        "serializer": JsonSerializer(),
        "namespace": namespace,
        "timeout": op_timeout_s,
        "key_builder": lambda key, namespace: f"{namespace}:{key}",  # the same keys in every backend
    }
    if parts.scheme == "memory":
        return SimpleMemoryCache(**common)
    if parts.scheme != "redis":
        raise ConfigError(f"cache_url {url!r}: use memory:// or redis://host:port/db")
    db = (parts.path or "/0").strip("/") or "0"
    if not db.isdigit():
        raise ConfigError(f"cache_url {url!r}: the path must be a database number")
    return RedisCache(
        **common,
        endpoint=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        db=int(db),
        password=parts.password,
        create_connection_timeout=op_timeout_s,
    )


class DirectoryCache:
    """Cached directory look-ups: label-gated, namespaced, with a TTL and one upstream call per missed key."""

    def __init__(
        self,
        backend: BaseCache,
        allowed: frozenset[str],
        ttl_s: float,
        metrics: Metrics,
        *,
        lease_s: float = LOCK_LEASE_S,
    ) -> None:
        self.backend = backend
        self.allowed = allowed
        self.ttl = ttl_s
        self.lease_s = lease_s
        self.shared = not isinstance(backend, SimpleMemoryCache)
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._count = {r: metrics.cache_requests.labels(r) for r in ("hit", "miss", "error")}

    async def get_or_fetch(self, coordinate: str, key: str, fetch: Callable[[], Awaitable[Any]]) -> Any:
        if coordinate not in self.allowed:
            raise ConfigError(f"{coordinate} is not labelled directory throughout; it may not be cached")
        full_key = f"{coordinate}:{key}"
        cached = await self._get(full_key)
        if cached is not None:
            self._count["hit"].inc()
            return cached
        pending = self._inflight.get(full_key)
        if pending is not None:  # another request in this worker is already fetching it
            self._count["hit"].inc()
            return await asyncio.shield(pending)
        self._count["miss"].inc()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[full_key] = future
        try:
            value = await self._fetch_once_across_instances(full_key, fetch)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved, so a failure nobody else awaited is not reported as unhandled
            raise
        finally:
            del self._inflight[full_key]

    async def _fetch_once_across_instances(self, key: str, fetch: Callable[[], Awaitable[Any]]) -> Any:
        if not self.shared:
            return await self._fetch_and_store(key, fetch)
        lock_key = f"lock:{key}"
        try:
            owner = await self.backend.add(lock_key, 1, ttl=self.lease_s)
        except ValueError:  # aiocache: the key exists, another instance is fetching
            owner = False
        except BACKEND_ERRORS as exc:
            self._backend_failed("lock", exc)
            return await fetch()
        if owner:
            try:
                return await self._fetch_and_store(key, fetch)
            finally:
                await self._quietly(self.backend.delete(lock_key))
        loop = asyncio.get_running_loop()
        until = loop.time() + self.lease_s
        while loop.time() < until:
            await asyncio.sleep(POLL_S)
            cached = await self._get(key)
            if cached is not None:
                return cached
        return await self._fetch_and_store(key, fetch)  # the other instance failed or took too long

    async def _fetch_and_store(self, key: str, fetch: Callable[[], Awaitable[Any]]) -> Any:
        value = await fetch()
        if value is not None:  # "not found" is never cached: its key would only hold what someone typed
            await self._quietly(self.backend.set(key, value, ttl=self.ttl))
        return value

    async def _get(self, key: str) -> Any:
        try:
            return await self.backend.get(key)
        except BACKEND_ERRORS as exc:
            self._backend_failed("get", exc)
            return None

    async def _quietly(self, op: Awaitable[Any]) -> None:
        try:
            await op
        except BACKEND_ERRORS as exc:
            self._backend_failed("write", exc)

    def _backend_failed(self, op: str, exc: Exception) -> None:
        self._count["error"].inc()
        log.warning("directory cache unavailable; asking the directory", extra={"op": op, "error": type(exc).__name__})

    async def ready(self) -> bool:
        try:
            await self.backend.exists("ready-probe")
            return True
        except Exception:
            return False

    async def aclose(self) -> None:
        await self._quietly(self.backend.close())
