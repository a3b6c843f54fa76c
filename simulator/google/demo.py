"""A demo Google Workspace: fabrikam.example with people, two rooms and the service's OAuth client.

The identity engineer's demo seeding calls :func:`seed`; the constants are what the local app's
settings point at (client id/secret, redirect URI of ``func``'s default port 7071).
"""

from __future__ import annotations

from typing import Any

from simulator.google import control
from simulator.world import World

DOMAIN = "fabrikam.example"
CLIENT_ID = "104857600000-calendarsimdemo.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-calendar-sim-demo-secret"
REDIRECT_URI = "http://localhost:7071/api/oauth/google/callback"
USERS = (
    ("alex.admin@fabrikam.example", "Alex Admin", True),
    ("bianca.instructor@fabrikam.example", "Bianca Instructor", False),
    ("chen.instructor@fabrikam.example", "Chen Instructor", False),
    ("dana.staff@fabrikam.example", "Dana Staff", False),
)
ROOMS = (
    ("room-lisbon@fabrikam.example", "Lisbon (8)", 8, "accept"),
    ("room-oslo@fabrikam.example", "Oslo (4)", 4, "decline_when_busy"),
)


def seed(world: World, app_url: str = "http://localhost:7071") -> dict[str, Any]:
    """Create the demo domain (idempotent per world); returns what the app's settings need.

    The OAuth client's redirect URI is the app's at ``app_url`` (``make run --app-port``).
    """
    redirect_uri = f"{app_url}/api/oauth/google/callback"
    with world.lock:
        domain = control.add_domain(
            world, {"domain": DOMAIN, "name": "Fabrikam", "customer_id": "C0fabrik1"}
        )
        for email, name, admin in USERS:
            control.add_user(world, DOMAIN, {"email": email, "name": name, "is_admin": admin})
        for email, name, capacity, policy in ROOMS:
            control.add_room(
                world,
                DOMAIN,
                {
                    "email": email,
                    "name": name,
                    "capacity": capacity,
                    "building_id": "hq",
                    "policy": policy,
                },
            )
        client = control.add_client(
            world,
            {
                "name": "Calendar integration (demo)",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": sorted({REDIRECT_URI, redirect_uri}),
            },
        )
        control.set_policy(world, DOMAIN, {"app_trust": {CLIENT_ID: "trusted"}})
    return {
        "domain": domain,
        "client": client,
        "users": [u[0] for u in USERS],
        "rooms": [r[0] for r in ROOMS],
    }
