"""All Microsoft Graph routes of the simulator (``/graph/v1.0/...``) plus its control API.

``routes(world)`` is what :mod:`simulator.server` mounts (listed in ``AREAS``).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from simulator.microsoft.graph import (
    batch,
    control,
    event_routes,
    places,
    subscriptions,
    users,
)
from simulator.world import World


def api_routes(world: World) -> list[BaseRoute]:
    """The Graph API proper (everything ``$batch`` may dispatch to)."""
    return (
        users.routes(world)
        + places.routes(world)
        + event_routes.routes(world)
        + subscriptions.routes(world)
    )


def routes(world: World) -> list[BaseRoute]:
    api = api_routes(world)
    return batch.routes(world, api) + api + control.routes(world)
