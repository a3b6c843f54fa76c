"""All Microsoft Graph routes of the simulator (``/graph/v1.0/...``) plus its control API.

``routes(world)`` is what :mod:`simulator.server` mounts (listed in ``AREAS``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.microsoft.graph import (
    batch,
    control,
    event_routes,
    places,
    subscriptions,
    users,
)
from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.http import BASE, endpoint
from simulator.world import World


async def _unknown(world: World, request: Request) -> Response:
    """Anything else under /v1.0 gets Graph's answer for an unknown segment, in Graph's format."""
    segment = request.path_params["rest"].rstrip("/").split("/")[-1]
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def api_routes(world: World) -> list[BaseRoute]:
    """The Graph API proper (everything ``$batch`` may dispatch to)."""
    return (
        users.routes(world)
        + places.routes(world)
        + event_routes.routes(world)
        + subscriptions.routes(world)
        + [Route(BASE + "/{rest:path}", endpoint(world, _unknown))]
    )


def routes(world: World) -> list[BaseRoute]:
    api = api_routes(world)
    # $batch comes first: the catch-all at the end of ``api`` would take it otherwise.
    return batch.routes(world, api) + api + control.routes(world)
