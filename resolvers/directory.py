"""Directory queries: ``services``, ``schools``, ``gpPractices``, ``practitioner(id)`` — any authenticated
practitioner; answered from the directory cache where it can (see :mod:`gateway.agencies.directory`)."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from gateway.graphql.schema import GpPractice, Practitioner, School, Service
from gateway.pipeline.authenticate import require_subject
from gateway.pipeline.context import Context


def _items(doc: Any) -> list[dict[str, Any]]:
    items = doc.get("items") if isinstance(doc, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


async def _listing(info: Info[Context, None], coordinate: str, path: str) -> list[dict[str, Any]]:
    state = info.context.state
    require_subject(state.subject, state.auth_error)
    return _items(await info.context.services.directory.get(coordinate, path))


async def resolve_services(info: Info[Context, None]) -> list[Service]:
    items = await _listing(info, "Query.services", "/directory/services")
    return [Service(id=i["id"], name=i["name"], agency=i["agency"], category=i["category"]) for i in items]


async def resolve_schools(info: Info[Context, None]) -> list[School]:
    items = await _listing(info, "Query.schools", "/directory/schools")
    return [School(urn=i["urn"], name=i["name"], phase=i["phase"], postcode=i["postcode"]) for i in items]


async def resolve_gp_practices(info: Info[Context, None]) -> list[GpPractice]:
    items = await _listing(info, "Query.gpPractices", "/directory/gp-practices")
    return [GpPractice(code=i["code"], name=i["name"], postcode=i["postcode"]) for i in items]


async def resolve_practitioner(info: Info[Context, None], id: str) -> Practitioner | None:
    state = info.context.state
    require_subject(state.subject, state.auth_error)
    if not id.isalnum() or len(id) > 32:
        return None
    doc = await info.context.services.directory.get("Query.practitioner", "/directory/practitioners/{key}", id)
    if not isinstance(doc, dict) or "id" not in doc:
        return None
    return Practitioner(**{k: doc[k] for k in ("id", "name", "role", "agency", "team", "phone", "email")})
