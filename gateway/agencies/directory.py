"""The council directory (services, schools, GP practices, practitioners): the only data the gateway
caches, through :class:`~gateway.agencies.cache.DirectoryCache`, which lets in only what the schema
labels ``directory`` throughout."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.agencies.cache import DirectoryCache
from gateway.agencies.client import AgencyClient

DIRECTORY_TIMEOUT_S = 2.0
PAGE = {"pageSize": "1000"}


class DirectoryClient:
    """Reads the council directory through its own agency client (and guard) and the cache."""

    def __init__(self, client: AgencyClient, cache: DirectoryCache) -> None:
        self.client = client
        self.cache = cache

    async def get(self, coordinate: str, path: str, key: str = "") -> Any:
        """The directory document at ``path`` (``{key}`` filled, percent-encoded), answering the schema
        field ``coordinate``; ``None`` when the directory has nothing there (never cached)."""
        return await self.cache.get_or_fetch(coordinate, path.replace("{key}", key), lambda: self._fetch(path, key))

    async def _fetch(self, path: str, key: str) -> Any:
        deadline = asyncio.get_running_loop().time() + DIRECTORY_TIMEOUT_S
        return await self.client.get(path, PAGE, {"key": key}, {}, deadline)
