"""The OpenAPI 3.1 document, built from the route specs and pydantic models the functions use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.http.api import RouteSpec

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code", "correlation_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable error code; branch on this."},
        "correlation_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def openapi_path(spec: RouteSpec, prefix: str) -> str:
    """``orgs/{org:alpha}/x/{id?}`` -> ``/api/orgs/{org}/x/{id}``."""
    path = spec.route
    for name in spec.path_params:
        path = path.replace("{" + name + "?}", "{" + name + "}")
        for start in [i for i in range(len(path)) if path.startswith("{" + name + ":", i)]:
            end = path.index("}", start)
            path = path[:start] + "{" + name + "}" + path[end + 1 :]
            break
    return f"/{prefix}/{path}".replace("//", "/")


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def build_openapi(
    specs: Iterable[RouteSpec], *, prefix: str = "api", version: str
) -> dict[str, Any]:
    specs = list(specs)
    models: set[type[BaseModel]] = set()
    for spec in specs:
        models.update(m for m in (spec.body, spec.query, spec.response) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    refs, defs = models_json_schema(
        [(m, "validation") for m in ordered], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA

    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        operation: dict[str, Any] = {
            "operationId": spec.name,
            "summary": spec.summary,
            "tags": [spec.tag],
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in spec.path_params
            ],
            "responses": {},
        }
        if spec.query is not None:
            for name, field in spec.query.model_fields.items():
                operation["parameters"].append(
                    {
                        "name": field.alias or name,
                        "in": "query",
                        "required": field.is_required(),
                        "description": field.description or "",
                        "schema": spec.query.model_json_schema()["properties"][field.alias or name],
                    }
                )
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
            }
            operation["responses"]["400"] = _problem("Invalid JSON or invalid fields")
        success: dict[str, Any] = {"description": "Success"}
        if spec.response is not None:
            success["content"] = {
                spec.content_type: {"schema": refs[(spec.response, "validation")]}
            }
        elif spec.content_type != "application/json":
            success["content"] = {spec.content_type: {"schema": {"type": "string"}}}
        operation["responses"][str(spec.status)] = success
        if spec.auth != "anonymous":
            operation["security"] = [{"bearer": []}]
            operation["responses"]["401"] = _problem("Missing, invalid or expired token")
            operation["responses"]["403"] = _problem("Wrong organisation or missing role")
        operation["responses"]["500"] = _problem("Unexpected error (see correlation_id)")
        for method in spec.methods:
            paths.setdefault(openapi_path(spec, prefix), {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Calendar integration service",
            "version": version,
            "description": "Connects the host app to Microsoft 365 and Google Workspace calendars.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
