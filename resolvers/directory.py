"""Directory queries: the only data the gateway caches (see :mod:`gateway.agencies.cache` for what may enter it)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from strawberry.types import Info

from gateway.agencies.cache import DirectoryCache
from gateway.agencies.resilience import Guard
from gateway.agencies.upstream import (
    UpstreamClient,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
)
from gateway.config import Settings
from gateway.errors import AgencyBadResponse, AgencyTimeout, AgencyUnavailable
from gateway.graphql.schema import GpPractice, Practitioner, School, Service
from gateway.types import Context
from resolvers.common import subject_of

DIRECTORY_TIMEOUT_S = 2.0


class DirectoryClient:
    """Reads the council directory through the shared upstream client, its own guard, and the cache."""

    def __init__(self, settings: Settings, upstream: UpstreamClient, cache: DirectoryCache, guard: Guard) -> None:
        self.url = settings.directory_url.rstrip("/")
        self.headers = {"X-API-Key": settings.directory_api_key}
        self.upstream = upstream
        self.cache = cache
        self.guard = guard

    async def get(self, coordinate: str, path: str) -> Any:
        """The directory document at ``path``, answering the schema field ``coordinate``."""
        return await self.cache.get_or_fetch(coordinate, path, lambda: self._fetch(path))

    async def _fetch(self, path: str) -> Any:
        async def attempt(remaining: float) -> UpstreamResponse:
            try:
                resp = await self.upstream.get(
                    self.url + path,
                    params={"pageSize": "1000"},
                    headers=self.headers,
                    timeout=remaining,
                    max_bytes=8 << 20,
                )
            except UpstreamTimeout as exc:
                raise AgencyTimeout("directory", "the directory did not answer in time") from exc
            except (UpstreamUnavailable, UpstreamTooLarge) as exc:
                raise AgencyUnavailable("directory", "the directory could not be reached") from exc
            if resp.status >= 500 or resp.status == 429:
                raise AgencyUnavailable("directory", f"the directory answered with an error ({resp.status})")
            return resp

        deadline = asyncio.get_running_loop().time() + DIRECTORY_TIMEOUT_S
        resp = await self.guard.call(attempt, deadline)
        if resp.status == 404:
            return None  # not cached
        if resp.status != 200:
            raise AgencyUnavailable("directory", f"the directory answered with an error ({resp.status})")
        try:
            return orjson.loads(resp.body)
        except orjson.JSONDecodeError as exc:
            raise AgencyBadResponse("directory", "the directory sent a body that could not be read") from exc


def _items(doc: Any) -> list[dict[str, Any]]:
    items = doc.get("items") if isinstance(doc, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


async def resolve_services(info: Info[Context, None]) -> list[Service]:
    subject_of(info)
    doc = await info.context.services.directory.get("Query.services", "/directory/services")
    return [Service(id=i["id"], name=i["name"], agency=i["agency"], category=i["category"]) for i in _items(doc)]


async def resolve_schools(info: Info[Context, None]) -> list[School]:
    subject_of(info)
    doc = await info.context.services.directory.get("Query.schools", "/directory/schools")
    return [School(urn=i["urn"], name=i["name"], phase=i["phase"], postcode=i["postcode"]) for i in _items(doc)]


async def resolve_gp_practices(info: Info[Context, None]) -> list[GpPractice]:
    subject_of(info)
    doc = await info.context.services.directory.get("Query.gpPractices", "/directory/gp-practices")
    return [GpPractice(code=i["code"], name=i["name"], postcode=i["postcode"]) for i in _items(doc)]


async def resolve_practitioner(info: Info[Context, None], id: str) -> Practitioner | None:
    subject_of(info)
    if not id.isalnum() or len(id) > 32:
        return None
    doc = await info.context.services.directory.get("Query.practitioner", f"/directory/practitioners/{id}")
    if not isinstance(doc, dict) or "id" not in doc:
        return None
    return Practitioner(**{k: doc[k] for k in ("id", "name", "role", "agency", "team", "phone", "email")})
