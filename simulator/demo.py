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
:func:`ensure_upcoming_events` gives the administrators an event tomorrow, so the test flow's
preview shows something on a first try.
"""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from simulator.microsoft.directory import AppRegistration, directory
from simulator.world import World

DOMAIN = "contoso.example"
TENANT_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
CLIENT_ID = "3c9e1f52-8b4a-4d7e-a1f0-5b6c7d8e9f01"
CLIENT_SECRET = "contoso-demo-client-secret"
APP_URL = "http://localhost:7071"  # the app's default address (func start, make run)


def redirect_uris(app_url: str = APP_URL) -> tuple[str, str]:
    """The app's Microsoft redirect URIs when it is served at ``app_url``."""
    return (
        f"{app_url}/api/oauth/microsoft/callback",
        f"{app_url}/api/oauth/microsoft/admin-consent",
    )


REDIRECT_URIS = redirect_uris()
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


def seed_microsoft(world: World, app_url: str = APP_URL) -> dict[str, Any]:
    """Create the Contoso tenant, its people and rooms and the service's app registration.

    The registration's redirect URIs are those of the app at ``app_url`` (``make run
    --app-port`` changes it); a registration loaded from an earlier run gains them too.
    """
    uris = redirect_uris(app_url)
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
        app = dir_.apps.setdefault(
            CLIENT_ID,
            AppRegistration(
                client_id=CLIENT_ID,
                display_name="Calendar integration (demo)",
                client_secret=CLIENT_SECRET,
                redirect_uris=list(uris),
                delegated_permissions={"Calendars.ReadWrite", "User.Read", "offline_access"},
                application_permissions={"Place.Read.All", "Calendars.ReadWrite", "User.Read.All"},
            ),
        )
        app.redirect_uris.extend(uri for uri in uris if uri not in app.redirect_uris)
    return {
        "tenant_id": TENANT_ID,
        "domain": DOMAIN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": list(uris),
        "authority": f"{world.base_url}/{TENANT_ID}",
        "admin_consent_url": f"{world.base_url}/common/adminconsent?"
        + urlencode({"client_id": CLIENT_ID, "redirect_uri": uris[1]}),
        "users": users,
        "rooms": rooms,
    }


def seed(world: World, app_url: str = APP_URL) -> dict[str, Any]:
    """Seed both halves for the app at ``app_url``; ``google`` is None without its module."""
    result: dict[str, Any] = {"microsoft": seed_microsoft(world, app_url), "google": None}
    try:
        google_demo = importlib.import_module("simulator.google.demo")
    except ModuleNotFoundError:
        return result
    result["google"] = google_demo.seed(world, app_url)
    return result


UPCOMING_WITHIN = timedelta(days=7)


def _start_of(event: dict[str, Any]) -> datetime | None:
    value = (event.get("start") or {}).get("dateTime")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")[:32])
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value[:19])
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _upcoming(events: list[dict[str, Any]], now: datetime) -> bool:
    return any(
        (start := _start_of(e)) is not None
        and now <= start <= now + UPCOMING_WITHIN
        and e.get("status") != "cancelled"
        for e in events
    )


def ensure_upcoming_events(base_url: str, ca_file: Path, seeded: dict[str, Any]) -> int:
    """Give each demo administrator an event tomorrow unless one is coming within a week.

    The test flow's live preview reads the consenting administrator's calendar: without an
    upcoming event it has nothing to show on a first try. Returns how many events were created.
    """
    from simulator.client import SimulatorClient

    now = datetime.now(UTC)
    start = (now + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    end = start + timedelta(minutes=30)
    created = 0
    with SimulatorClient(base_url, ca_file) as sim:
        microsoft = seeded.get("microsoft") or {}
        for user in microsoft.get("users", []):
            if not user.get("admin") or _upcoming(sim.graph.events(user["email"]), now):
                continue
            sim.graph.create_event(
                user["email"],
                {
                    "subject": "Weekly planning (demo)",
                    "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                    "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                },
            )
            created += 1
        google = seeded.get("google") or {}
        users = google.get("users", [])
        if users and not _upcoming(sim.google.events(users[0]), now):
            sim.google.create_event(
                users[0],
                {
                    "summary": "Weekly planning (demo)",
                    "start": {"dateTime": start.isoformat()},
                    "end": {"dateTime": end.isoformat()},
                },
            )
            created += 1
    return created
