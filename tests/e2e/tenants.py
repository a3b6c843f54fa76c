"""Build simulated customer organisations for end-to-end scenarios."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import MICROSOFT_CLIENT_ID, Stack

SECRET_SUBJECT = "Board review: acquisition of Northwind (confidential)"
SECRET_BODY = "Agenda: price per share, walk-away terms"


@dataclass
class MicrosoftOrg:
    tenant_id: str
    domain: str
    it_admin: str  # Entra ID administrator: may consent for the organisation
    app_admin: str  # the host app's subscription administrator, an ordinary Entra user
    users: list[str]


def microsoft_org(stack: Stack, *, users: int = 2, **policy: Any) -> MicrosoftOrg:
    domain = f"m{secrets.token_hex(4)}.example"
    tenant = stack.sim.create_tenant(domain)
    tenant_id = tenant["id"]
    if policy:
        stack.sim.set_tenant_policy(tenant_id, **policy)
    it_admin = stack.sim.create_user(tenant_id, "it.admin", is_admin=True)["mail"]
    app_admin = stack.sim.create_user(tenant_id, "office.manager")["mail"]
    people = [stack.sim.create_user(tenant_id, f"person{i}")["mail"] for i in range(users)]
    stack.sim.create_room(tenant_id, "room-aurora", display_name="Aurora", capacity=6)
    return MicrosoftOrg(tenant_id, domain, it_admin, app_admin, people)


def grant_room_listing(stack: Stack, org: MicrosoftOrg) -> None:
    """The IT admin grants the application permission used to list rooms."""
    stack.sim.grant_consent(org.tenant_id, MICROSOFT_CLIENT_ID, app_roles=["Place.Read.All"])


def put_secret_meeting_in_outlook(stack: Stack, mailbox: str) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return stack.sim.graph.create_event(
        mailbox,
        {
            "subject": SECRET_SUBJECT,
            "body": {"contentType": "text", "content": SECRET_BODY},
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {
                "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            "attendees": [
                {
                    "emailAddress": {"address": "cfo@northwind.example", "name": "Northwind CFO"},
                    "type": "required",
                }
            ],
        },
    )


@dataclass
class GoogleOrg:
    domain: str
    it_admin: str  # Google Workspace super admin
    users: list[str]


def google_org(stack: Stack, *, trust: str = "trusted", users: int = 2, **policy: Any) -> GoogleOrg:
    from tests.e2e.conftest import GOOGLE_CLIENT_ID

    domain = f"g{secrets.token_hex(4)}.example"
    stack.sim.google.add_domain(domain)
    admin = f"it.admin@{domain}"
    stack.sim.google.add_user(admin, "IT Admin", is_admin=True)
    people = [f"person{i}@{domain}" for i in range(users)]
    for email in people:
        stack.sim.google.add_user(email)
    stack.sim.google.add_room(f"room-lisbon@{domain}", "Lisbon", capacity=8)
    stack.sim.google.set_policy(domain, app_trust={GOOGLE_CLIENT_ID: trust}, **policy)
    return GoogleOrg(domain, admin, people)


def put_secret_meeting_in_google(stack: Stack, calendar: str) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return stack.sim.google.create_event(
        calendar,
        {
            "summary": SECRET_SUBJECT,
            "description": SECRET_BODY,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
            "attendees": [{"email": "cfo@northwind.example"}],
        },
    )
