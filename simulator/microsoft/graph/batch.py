"""JSON batching: ``POST /$batch`` (https://learn.microsoft.com/graph/json-batching).

At most 20 requests (more: 400); ``id`` unique; ``url`` relative to ``/v1.0``; ``dependsOn`` orders
requests and a request whose dependency failed answers 424 Failed Dependency. Each request is
dispatched into the same Graph handlers (an in-process ASGI call carrying the batch's
``Authorization`` header), so it is checked, throttled and answered exactly as a direct call.
Requests run one after another in dependency order; responses keep the request order.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.microsoft.graph.auth import caller
from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.http import BASE, endpoint, json_body, ok
from simulator.world import World

MAX_REQUESTS = 20
PASSED_HEADERS = {"content-type", "retry-after", "location", "odata-version", "preference-applied"}
FAILED_DEPENDENCY = {"error": {"code": "FailedDependency", "message": "Failed dependency."}}


def _order(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dependency order (a dependency runs first); a cycle or unknown id is a 400."""
    by_id = {str(r["id"]).lower(): r for r in requests}
    done: list[str] = []
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if key in done:
            return
        if key in visiting:
            raise GraphError(400, "BadRequest", "Batch request contains a dependency cycle.")
        visiting.add(key)
        for dep in by_id[key].get("dependsOn") or []:
            if str(dep).lower() not in by_id:
                raise GraphError(
                    400, "BadRequest", f"Request dependsOn unknown request id '{dep}'."
                )
            visit(str(dep).lower())
        visiting.discard(key)
        done.append(key)

    for key in by_id:
        visit(key)
    return [by_id[k] for k in done]


def _validate(body: Any) -> list[dict[str, Any]]:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > MAX_REQUESTS:
        raise GraphError(
            400, "BadRequest", f"The number of batch requests exceeds the limit of {MAX_REQUESTS}."
        )
    seen: set[str] = set()
    for item in requests:
        if not isinstance(item, dict) or not all(item.get(k) for k in ("id", "method", "url")):
            raise GraphError(400, "BadRequest", "Each batch request needs id, method and url.")
        key = str(item["id"]).lower()
        if key in seen:
            raise GraphError(400, "BadRequest", f"Batch request id '{item['id']}' is not unique.")
        seen.add(key)
        if str(item["url"]).lower().startswith(("http://", "https://")):
            raise GraphError(400, "BadRequest", "Batch request urls must be relative.")
    return requests


def routes(world: World, api: list[BaseRoute]) -> list[BaseRoute]:
    """The ``$batch`` route dispatching into ``api`` (the other Graph routes)."""
    inner = Starlette(routes=api)

    async def run_batch(world: World, request: Request) -> Response:
        caller(world, request)  # the batch itself needs a valid token
        requests = _validate(await json_body(request))
        results: dict[str, dict[str, Any]] = {}
        transport = httpx.ASGITransport(app=inner)
        async with httpx.AsyncClient(transport=transport, base_url="https://graph.batch") as http:
            for item in _order(requests):
                key = str(item["id"]).lower()
                failed = [
                    d
                    for d in item.get("dependsOn") or []
                    if results[str(d).lower()]["status"] >= 400
                ]
                if failed:
                    results[key] = {
                        "id": item["id"],
                        "status": 424,
                        "headers": {"Content-Type": "application/json"},
                        "body": FAILED_DEPENDENCY,
                    }
                    continue
                headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
                headers["Authorization"] = request.headers.get("authorization", "")
                content = None
                if "body" in item:
                    content = json.dumps(item["body"]).encode()
                    headers.setdefault("Content-Type", "application/json")
                url = BASE + "/" + str(item["url"]).lstrip("/")
                response = await http.request(
                    str(item["method"]).upper(), url, headers=headers, content=content
                )
                entry: dict[str, Any] = {
                    "id": item["id"],
                    "status": response.status_code,
                    "headers": {
                        k: v for k, v in response.headers.items() if k.lower() in PASSED_HEADERS
                    },
                }
                if response.content:
                    entry["body"] = response.json()
                results[key] = entry
        return ok({"responses": [results[str(r["id"]).lower()] for r in requests]})

    return [Route(f"{BASE}/$batch", endpoint(world, run_batch), methods=["POST"])]
