"""The OpenAPI 3.1 document, built from the route specs and pydantic models the functions use.

Types come from the specs; what types cannot say (each operation's description, the errors it
can answer, where its redirects lead) from :mod:`shared.http.contract`; request and response
examples from ``openapi_examples.json``, recorded from the end-to-end suite
(``tests/e2e/openapi_recorder.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.http import contract
from shared.http.api import RouteSpec

EXAMPLES_FILE = Path(__file__).with_name("openapi_examples.json")


def problem_schema() -> dict[str, Any]:
    """RFC 9457 problem details as this service sends them; ``code`` is a closed set."""
    return {
        "type": "object",
        "description": "Every error response (application/problem+json, RFC 9457).",
        "required": ["type", "title", "status", "code", "correlation_id"],
        "properties": {
            "type": {
                "type": "string",
                "description": "urn:calendar-integration:problem:<code>",
            },
            "title": {"type": "string", "description": "Short, human-readable summary."},
            "status": {"type": "integer", "description": "The HTTP status, repeated."},
            "detail": {"type": "string", "description": "What went wrong in this request."},
            "code": {
                "type": "string",
                "enum": sorted(contract.ERROR_CODES),
                "description": "Stable error code; branch on this, never on the texts.",
            },
            "correlation_id": {
                "type": "string",
                "description": "Quote it when reporting a problem: it finds the log lines.",
            },
            "errors": {
                "type": "array",
                "description": "validation_failed: each invalid field and why.",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": {
                            "type": "string",
                            "description": "Where: body.<field>, query.<name> or path.<name>.",
                        },
                        "message": {"type": "string", "description": "What is wrong with it."},
                    },
                },
            },
        },
        "additionalProperties": {
            "description": "Members particular to an error (for example provider, provider_code)."
        },
    }


@cache
def recorded_examples() -> dict[str, Any]:
    """operationId -> {"request": body, "responses": {status: body}} (see module docstring)."""
    if not EXAMPLES_FILE.exists():
        return {}
    data: dict[str, Any] = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    return data


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


def _problem(description: str, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Problem"}}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": {"application/problem+json": media}}


def declared_errors(spec: RouteSpec) -> dict[int, str]:
    """Every error status ``spec``'s operation can answer, with when it does."""
    errors: dict[int, str] = {}
    if spec.body is not None or spec.query is not None or spec.path_params:
        errors[400] = "Invalid JSON, or invalid fields (validation_failed names each)"
    if spec.body is not None:
        errors[413] = "The body is larger than MAX_REQUEST_BODY_BYTES (payload_too_large)"
        errors[415] = "The body is not declared as application/json (unsupported_media_type)"
    if spec.auth != "anonymous":
        errors[401] = "Missing, invalid or expired bearer token"
        errors[403] = "A token for another organisation, or without the role this needs"
    # The HTTP layer answers an outage of a library's service (storage, Key Vault, a provider)
    # with 503 on every route (shared/errors.from_library).
    errors[503] = "A dependency is unavailable (storage_unavailable, secret_store_unavailable, "
    errors[503] += "provider_unavailable, deadline_exceeded); retry later"
    doc = contract.OPERATIONS.get(spec.name)
    if doc is not None:
        errors.update(doc.errors)
    errors[500] = "Unexpected error (internal_error; the correlation_id finds the logs)"
    return dict(sorted(errors.items()))


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
    for name, descriptions in contract.PROPERTIES.items():
        properties = schemas.get(name, {}).get("properties", {})
        for prop, text in descriptions.items():
            if prop in properties:
                properties[prop].setdefault("description", text)
    schemas["Problem"] = problem_schema()
    examples = recorded_examples()

    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        doc = contract.OPERATIONS.get(spec.name)
        recorded = examples.get(spec.name, {})
        operation: dict[str, Any] = {
            "operationId": spec.name,
            "summary": spec.summary,
            "description": doc.description if doc else "",
            "tags": [spec.tag],
            "parameters": [
                {
                    "name": p,
                    "in": "path",
                    "required": True,
                    "description": contract.PATH_PARAMETERS.get(p, ""),
                    "schema": {"type": "string"},
                }
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
            media: dict[str, Any] = {"schema": refs[(spec.body, "validation")]}
            if "request" in recorded:
                media["example"] = recorded["request"]
            operation["requestBody"] = {"required": True, "content": {"application/json": media}}
        responses: dict[str, Any] = recorded.get("responses", {})
        if spec.status == 302 or (doc is not None and doc.redirect):
            operation["responses"]["302"] = {
                "description": doc.redirect if doc and doc.redirect else "Redirect",
                "headers": {
                    "Location": {
                        "description": "Where the browser goes next",
                        "schema": {"type": "string", "format": "uri"},
                    }
                },
            }
        success: dict[str, Any] = {"description": doc.success if doc else "Success"}
        if spec.response is not None:
            success["content"] = {
                spec.content_type: {"schema": refs[(spec.response, "validation")]}
            }
        elif spec.content_type != "application/json":
            success["content"] = {spec.content_type: {"schema": {"type": "string"}}}
        if spec.status != 302:
            if str(spec.status) in responses and "content" in success:
                success["content"][spec.content_type]["example"] = responses[str(spec.status)]
            operation["responses"][str(spec.status)] = success
        for status, (when, media_type) in (doc.also if doc else {}).items():
            other: dict[str, Any] = {"description": when}
            if media_type:
                other["content"] = {media_type: {"schema": {"type": "string"}}}
            elif "content" in success:
                content = dict(success["content"][spec.content_type])
                if str(status) in responses:
                    content["example"] = responses[str(status)]
                other["content"] = {spec.content_type: content}
            operation["responses"][str(status)] = other
        if spec.auth != "anonymous":
            operation["security"] = [{"bearer": []}]
        for status, when in declared_errors(spec).items():
            operation["responses"][str(status)] = _problem(when, responses.get(str(status)))
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
