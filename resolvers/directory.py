"""Directory queries: the only data the gateway caches (aiocache; one upstream call per key at a time)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiocache import Cache
from aiocache.serializers import JsonSerializer
from strawberry.types import Info

from gateway.config import Settings
from gateway.errors import AgencyBadResponse, AgencyTimeout, AgencyUnavailable
from gateway.schema import GpPractice, Practitioner, School, Service
from gateway.types import Context
from gateway.upstream import UpstreamClient, UpstreamTimeout, UpstreamTooLarge, UpstreamUnavailable
from resolvers.common import subject_of


class DirectoryClient:
    """Reads the council directory through the shared upstream client, caching each listing for a TTL."""

    def __init__(self, settings: Settings, upstream: UpstreamClient) -> None:
        self.url = settings.directory_url.rstrip("/")
        self.headers = {"X-API-Key": settings.directory_api_key}
        self.ttl = settings.directory_ttl_s
        self.upstream = upstream
        self.cache = Cache(Cache.MEMORY, namespace="wardgate:directory", serializer=JsonSerializer())
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    async def get(self, path: str) -> Any:
        cached = await self.cache.get(path)
        if cached is not None:
            return cached
        pending = self._inflight.get(path)
        if pending is not None:  # many requests missing one key wait for one upstream call
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[path] = future
        try:
            value = await self._fetch(path)
            await self.cache.set(path, value, ttl=self.ttl)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here so waiters-free failures are not logged as unhandled
            raise
        finally:
            self._inflight.pop(path, None)

    async def _fetch(self, path: str) -> Any:
        try:
            resp = await self.upstream.get(
                self.url + path, params={"pageSize": "1000"}, headers=self.headers, timeout=2.0, max_bytes=8 << 20
            )
        except UpstreamTimeout as exc:
            raise AgencyTimeout("directory", "the directory did not answer in time") from exc
        except (UpstreamUnavailable, UpstreamTooLarge) as exc:
            raise AgencyUnavailable("directory", "the directory could not be reached") from exc
        if resp.status == 404:
            return {}
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
    doc = await info.context.services.directory.get("/directory/services")
    return [Service(id=i["id"], name=i["name"], agency=i["agency"], category=i["category"]) for i in _items(doc)]


async def resolve_schools(info: Info[Context, None]) -> list[School]:
    subject_of(info)
    doc = await info.context.services.directory.get("/directory/schools")
    return [School(urn=i["urn"], name=i["name"], phase=i["phase"], postcode=i["postcode"]) for i in _items(doc)]


async def resolve_gp_practices(info: Info[Context, None]) -> list[GpPractice]:
    subject_of(info)
    doc = await info.context.services.directory.get("/directory/gp-practices")
    return [GpPractice(code=i["code"], name=i["name"], postcode=i["postcode"]) for i in _items(doc)]


async def resolve_practitioner(info: Info[Context, None], id: str) -> Practitioner | None:
    subject_of(info)
    if not id.isalnum() or len(id) > 32:
        return None
    doc = await info.context.services.directory.get(f"/directory/practitioners/{id}")
    if not isinstance(doc, dict) or "id" not in doc:
        return None
    return Practitioner(**{k: doc[k] for k in ("id", "name", "role", "agency", "team", "phone", "email")})
