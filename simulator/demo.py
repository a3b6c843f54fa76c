"""A small demo organisation for running the service locally against the simulator.

Microsoft half (fixed ids, so local settings can name them):

* tenant ``contoso.example`` (id :data:`TENANT_ID`), default policies (users may consent);
* users: Megan Bowen (``megan.bowen@contoso.example``, admin), Alex Wilber, Diego Siciliani,
  Lynne Robbins (``<first>.<last>@contoso.example``);
* rooms: ``room-amsterdam@contoso.example`` (8 seats, accepts) and
  ``room-berlin@contoso.example`` (4 seats, declines when busy);
* the service's app registration (multi-tenant): client id :data:`CLIENT_ID`, secret
  :data:`CLIENT_SECRET`, redirect URIs :data:`REDIRECT_URIS`, delegated ``Calendars.ReadWrite``,
  ``User.Read``, ``offline_access`` and application ``Place.Read.All``, ``Calendars.ReadWrite``,
  ``User.Read.All``. No consent is granted: the demo starts where a customer starts (connect,
  consent, or the admin-consent link ``{base}/common/adminconsent?client_id=...``).

The Google half comes from ``simulator.google.demo.seed(world)`` when that module exists.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any
from urllib.parse import urlencode

from simulator.microsoft.directory import AppRegistration, directory
from simulator.world import World

DOMAIN = "contoso.example"
TENANT_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
CLIENT_ID = "3c9e1f52-8b4a-4d7e-a1f0-5b6c7d8e9f01"
CLIENT_SECRET = "contoso-demo-client-secret"
REDIRECT_URIS = (
    "http://localhost:7071/api/oauth/microsoft/callback",
    "http://localhost:7071/api/oauth/microsoft/admin-consent",
)
USERS = (
    ("megan.bowen", "Megan Bowen", True),
    ("alex.wilber", "Alex Wilber", False),
    ("diego.siciliani", "Diego Siciliani", False),
    ("lynne.robbins", "Lynne Robbins", False),
)
ROOMS = (
    ("room-amsterdam", "Amsterdam (8)", 8, "accept"),
    ("room-berlin", "Berlin (4)", 4, "decline_when_busy"),
)


def _stable_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://{DOMAIN}/{name}"))


def seed_microsoft(world: World) -> dict[str, Any]:
    """Create the Contoso tenant, its people and rooms and the service's app registration."""
    with world.lock:
        dir_ = directory(world)
        tenant = dir_.tenant(DOMAIN) or dir_.add_tenant(DOMAIN, "Contoso", TENANT_ID)
        users = []
        for local, name, admin in USERS:
            user = tenant.find_user(f"{local}@{DOMAIN}") or dir_.add_user(
                tenant, local, name, is_admin=admin, user_id=_stable_id(local)
            )
            users.append({"id": user.id, "email": user.mail, "name": name, "admin": admin})
        rooms = []
        for local, name, capacity, policy in ROOMS:
            room = tenant.find_user(f"{local}@{DOMAIN}")
            if room is None:
                room = dir_.add_user(
                    tenant,
                    local,
                    name,
                    kind="room",
                    room_policy=policy,  # type: ignore[arg-type]
                    capacity=capacity,
                    user_id=_stable_id(local),
                )
                room.building = "Contoso HQ"
            rooms.append({"id": room.id, "email": room.mail, "name": name, "policy": policy})
        dir_.apps.setdefault(
            CLIENT_ID,
            AppRegistration(
                client_id=CLIENT_ID,
                display_name="Calendar integration (demo)",
                client_secret=CLIENT_SECRET,
                redirect_uris=list(REDIRECT_URIS),
                delegated_permissions={"Calendars.ReadWrite", "User.Read", "offline_access"},
                application_permissions={"Place.Read.All", "Calendars.ReadWrite", "User.Read.All"},
            ),
        )
    return {
        "tenant_id": TENANT_ID,
        "domain": DOMAIN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": list(REDIRECT_URIS),
        "authority": f"{world.base_url}/{TENANT_ID}",
        "admin_consent_url": f"{world.base_url}/common/adminconsent?"
        + urlencode({"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URIS[1]}),
        "users": users,
        "rooms": rooms,
    }


def seed(world: World) -> dict[str, Any]:
    """Seed both halves; ``google`` is None when ``simulator.google.demo`` does not exist."""
    result: dict[str, Any] = {"microsoft": seed_microsoft(world), "google": None}
    try:
        google_demo = importlib.import_module("simulator.google.demo")
    except ModuleNotFoundError:
        return result
    result["google"] = google_demo.seed(world)
    return result
