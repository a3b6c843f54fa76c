"""Plumbing shared by the Graph route modules: error mapping, JSON bodies, headers, throttling."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.microsoft.graph.auth import Caller
from simulator.microsoft.graph.errors import GraphError, error_response, request_ids
from simulator.microsoft.graph.state import graph_state
from simulator.world import World

BASE = "/graph/v1.0"
Handler = Callable[[World, Request], Awaitable[Response]]


def endpoint(world: World, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint running ``handler``; :class:`GraphError` becomes Graph's error body."""

    async def run(request: Request) -> Response:
        try:
            response = await handler(world, request)
        except GraphError as exc:
            return error_response(request, exc)
        request_id, client_request_id = request_ids(request)
        response.headers.setdefault("request-id", request_id)
        response.headers.setdefault("client-request-id", client_request_id)
        return response

    return run


def root(world: World) -> str:
    return world.base_url + BASE


def ok(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        body, status_code=status, headers={"OData-Version": "4.0", **(headers or {})}
    )


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and "
            "payload is of valid JSON format.",
        ) from exc


def throttle(world: World, who: Caller, mailbox_id: str) -> None:
    """Outlook's per-app, per-mailbox request budget; over it, 429 with ``Retry-After``.

    Documented limit: 10,000 API requests in a 10 minute period per app per mailbox
    (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits); the answer is
    the 429 body shown in https://learn.microsoft.com/graph/throttling. (The 4-concurrent-requests
    limit is enforced in front of every area by :mod:`simulator.faults`.)
    """
    state = graph_state(world)
    now = time.monotonic()
    with world.lock:
        settings = state.settings
        times = state.request_times.setdefault((who.app_id, mailbox_id), [])
        times[:] = [t for t in times if now - t < settings.throttle_window]
        if len(times) >= settings.throttle_limit:
            raise GraphError(
                429,
                "TooManyRequests",
                "Please retry again later.",
                headers={"Retry-After": str(settings.throttle_retry_after)},
                inner={"code": "429", "message": "Please retry after", "status": "429"},
            )
        times.append(now)


def page_size(request: Request, default: int = 10) -> int:
    """``$top`` or ``Prefer: odata.maxpagesize=N``, else ``default``."""
    top = request.query_params.get("$top")
    if top is not None:
        if not top.isdigit() or int(top) < 1:
            raise GraphError(400, "BadRequest", f"Invalid $top value '{top}'.")
        return int(top)
    for part in request.headers.get("prefer", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return default
