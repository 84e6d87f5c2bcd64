"""Small helpers for writing each agency's OpenAPI 3 description by hand, as a supplier would."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def document(title: str, description: str, paths: dict[str, Any], schemas: dict[str, Schema]) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def query(name: str, description: str, *, required: bool = False, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": {"type": kind}}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


FORWARDED_HEADERS = [
    {"name": "X-Practitioner-Id", "in": "header", "required": True, "schema": {"type": "string"}},
    {"name": "X-Purpose", "in": "header", "required": True, "schema": {"type": "string"}},
    {"name": "X-Request-Id", "in": "header", "required": True, "schema": {"type": "string"}},
]


def get(
    operation_id: str,
    summary: str,
    params: list[dict[str, Any]],
    schema_ref: str,
    *,
    media: str = "application/json",
    forwarded: bool = True,
    not_found: bool = False,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {media: {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}},
        "401": {"description": "Missing or invalid credential"},
    }
    if forwarded:
        responses["400"] = {"description": "Missing practitioner, purpose or request id"}
    if not_found:
        responses["404"] = {"description": "No such record"}
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": params + (FORWARDED_HEADERS if forwarded else []),
            "responses": responses,
        }
    }


def obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def arr(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


S: Schema = {"type": "string"}
NS: Schema = {"type": "string", "nullable": True}
B: Schema = {"type": "boolean"}
I: Schema = {"type": "integer"}
N: Schema = {"type": "number"}
