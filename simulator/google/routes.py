"""All Google routes of the simulator (``routes(world)`` is what :mod:`simulator.server` mounts).

URL map (``base`` = ``https://127.0.0.1:<port>``)::

    base/google/o/oauth2/auth                  authorization (accounts.google.com/o/oauth2/auth)
    base/google/o/oauth2/v2/auth               the same
    base/google/token                          token (oauth2.googleapis.com/token)
    base/google/revoke                         revocation (oauth2.googleapis.com/revoke)
    base/google/oauth2/v3/userinfo             userinfo
    base/google/oauth2/v3/certs                JWKS of id tokens
    base/google/.well-known/openid-configuration
    base/google/calendar/v3/...                Calendar v3 (api_endpoint: base/google/calendar/v3/)
    base/google/admin/directory/v1/...         Admin SDK directory: rooms and users
                                               (api_endpoint: base/google/)
    base/_sim/google/...                       control API (simulator.google.control)
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from simulator.google import calendar, control, directory, oauth, token, users
from simulator.world import World


def routes(world: World) -> list[BaseRoute]:
    """Every Google route, control routes included."""
    return [
        *control.routes(world),
        *oauth.routes(world),
        *token.routes(world),
        *calendar.routes(world),
        *directory.routes(world),
        *users.routes(world),
    ]
