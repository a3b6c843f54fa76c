"""Shared end-to-end helpers for the sync engine: connected people, host-app people and events.

Each organisation can have one enabled cloud suite at a time, so a test that needs Microsoft and
Google people uses two organisations. Typical use::

    tenant, email, person = connected_microsoft_user(stack, org)
    put_people(stack, org, [(person, "Bob", email)])
    response = put_event(stack, org, "shift-1", people=[person], start=start)
    assert response.json()["people"][0]["status"] == "synced"
    (event,) = stack.sim.graph.events(email)
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.conftest import RETURN_TO, Stack
from tests.e2e.tenants import GoogleOrg, MicrosoftOrg, google_org, microsoft_org
from tests.e2e.test_workspace_google import google_test
from tests.e2e.test_workspace_microsoft import connect, create_and_test, enable, query

ADMIN = ("admin",)
SERVICE = ("service",)
HOST_APP = "host-backend"  # the subject of the host app's service token


@dataclass
class MicrosoftWorkspace:
    org: str
    integration: str
    tenant: MicrosoftOrg


@dataclass
class GoogleWorkspace:
    org: str
    integration: str
    domain: GoogleOrg


def microsoft_workspace(stack: Stack, org: str, *, users: int = 2) -> MicrosoftWorkspace:
    """A Microsoft tenant whose admin consented for everyone, and an enabled integration."""
    tenant = microsoft_org(stack, users=users)
    integration = create_and_test(stack, org, "ada", tenant.it_admin, consent_for_org=True)
    enable(stack, org, integration)
    return MicrosoftWorkspace(org, integration, tenant)


def google_workspace(stack: Stack, org: str, *, users: int = 2) -> GoogleWorkspace:
    """A Google Workspace domain that trusts the app, and an enabled integration."""
    domain = google_org(stack, users=users)
    integration, outcome = google_test(stack, org, domain.it_admin)
    assert outcome.get("test") == "passed", outcome
    enable(stack, org, integration)
    return GoogleWorkspace(org, integration, domain)


def connect_microsoft(stack: Stack, org: str, person_id: str, email: str) -> None:
    """The host-app user ``person_id`` connects the Microsoft account ``email``; returns once
    the first sync that connecting starts has run."""
    assert connect(stack, org, person_id, email) == {"calendar": "connected"}
    stack.host.wait_until_idle()


def connect_google(stack: Stack, org: str, person_id: str, email: str) -> None:
    """The host-app user ``person_id`` connects the Google account ``email``."""
    start = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub=person_id,
        params={"return_to": RETURN_TO},
    )
    assert start.status_code == 302, start.text
    back = stack.follow_callback(stack.sim.google.sign_in(start.headers["location"], email))
    assert query(back.headers["location"]) == {"calendar": "connected"}
    stack.host.wait_until_idle()


def new_person_id() -> str:
    return "person-" + secrets.token_hex(3)


def connected_microsoft_user(stack: Stack, org: str) -> tuple[MicrosoftOrg, str, str]:
    """An enabled Microsoft integration with one connected person (also PUT as a host-app
    person). Returns ``(tenant, person_email, person_id)``; ``tenant.users[1]`` is free for
    :func:`connect_microsoft`."""
    workspace = microsoft_workspace(stack, org)
    email, person = workspace.tenant.users[0], new_person_id()
    connect_microsoft(stack, org, person, email)
    put_people(stack, org, [(person, "Person Zero", email)])
    return workspace.tenant, email, person


def connected_google_user(stack: Stack, org: str) -> tuple[GoogleOrg, str, str]:
    """An enabled Google integration with one connected person (also PUT as a host-app person).
    Returns ``(domain, person_email, person_id)``."""
    workspace = google_workspace(stack, org)
    email, person = workspace.domain.users[0], new_person_id()
    connect_google(stack, org, person, email)
    put_people(stack, org, [(person, "Person Zero", email)])
    return workspace.domain, email, person


def put_people(stack: Stack, org: str, people: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """``PUT /orgs/{org}/people`` with ``(id, name, email)`` triples; returns the JSON answer."""
    response = stack.call(
        "PUT",
        f"orgs/{org}/people",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        json={"people": [{"id": i, "name": n, "email": e} for i, n, e in people]},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def event_times(hours_from_now: float = 24, minutes: int = 60) -> tuple[datetime, datetime]:
    """A whole-minute start time ``hours_from_now`` ahead (UTC) and its end."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=hours_from_now)
    return start, start + timedelta(minutes=minutes)


def put_event(
    stack: Stack,
    org: str,
    app_event: str,
    *,
    people: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    subject: str = "Shift: front desk",
    room: str | None = None,
    **extra: Any,
) -> httpx.Response:
    """``PUT /orgs/{org}/events/{app_event}`` as the host app; the response is not checked."""
    if start is None:
        start, default_end = event_times()
        end = end or default_end
    body: dict[str, Any] = {
        "subject": subject,
        "start": start.isoformat(),
        "end": (end or start + timedelta(hours=1)).isoformat(),
        "people": list(people),
        **extra,
    }
    if room is not None:
        body["room"] = room
    return stack.call(
        "PUT", f"orgs/{org}/events/{app_event}", org=org, sub=HOST_APP, roles=SERVICE, json=body
    )


def delete_event(stack: Stack, org: str, app_event: str) -> httpx.Response:
    """``DELETE /orgs/{org}/events/{app_event}`` as the host app."""
    return stack.call(
        "DELETE", f"orgs/{org}/events/{app_event}", org=org, sub=HOST_APP, roles=SERVICE
    )


def outcomes(response: httpx.Response) -> dict[str, dict[str, Any]]:
    """The per-person outcomes of an event PUT/DELETE answer, by person id."""
    return {p["person"]: p for p in response.json()["people"]}


def pair_room(stack: Stack, org: str, room_id: str, email: str, name: str = "Room") -> None:
    """The admin pairs the host app's room ``room_id`` with the suite room ``email``."""
    response = stack.call(
        "PUT",
        f"orgs/{org}/rooms/{room_id}",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"name": name, "email": email, "paired": True},
    )
    assert response.status_code == 200, response.text
