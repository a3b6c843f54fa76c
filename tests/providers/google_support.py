"""Shared pieces of the Google adapter tests: a Workspace organisation of its own in the shared
simulator (domain, admin, person, rooms, trusted OAuth client), settings pointing the adapter at
the simulator, and a signed-in person's grant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.providers.base import Grant
from shared.providers.google.auth import GoogleDelegatedAuth, GoogleUserTokenSource
from shared.providers.google.calendar import GoogleCalendarClient
from shared.settings import Settings, load_settings
from simulator.client import SimulatorClient
from simulator.google.client import GoogleControl

REDIRECT = "https://app.example/api/oauth/google/callback"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
ROOMS_READONLY = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
WORKSPACE_SCOPES = [CALENDAR_EVENTS, ROOMS_READONLY]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def google_settings(simulator: Any, client: dict[str, Any]) -> Settings:
    base = simulator.base_url
    bundle = simulator.certs.trust_bundle or simulator.certs.ca
    return load_settings(
        {
            "LOCAL_SETTINGS_FILE": "/nonexistent/local.settings.json",
            "GOOGLE_AUTH_URI": f"{base}/google/o/oauth2/auth",
            "GOOGLE_TOKEN_URI": f"{base}/google/token",
            "GOOGLE_REVOKE_URI": f"{base}/google/revoke",
            "GOOGLE_CALENDAR_URL": f"{base}/google/calendar/v3/",
            "GOOGLE_ADMIN_URL": f"{base}/google/",
            "GOOGLE_CLIENT_ID": client["client_id"],
            "GOOGLE_CLIENT_SECRET": client["client_secret"],
            "PROVIDER_CA_BUNDLE": str(bundle),
        }
    )


@dataclass
class Org:
    """One Workspace customer: ``admin`` (super admin), ``ann`` (a person), two rooms."""

    sim: SimulatorClient
    google: GoogleControl
    domain: str
    admin: str
    ann: str
    client: dict[str, Any]
    settings: Settings

    def auth(self) -> GoogleDelegatedAuth:
        return GoogleDelegatedAuth(self.settings)

    def sign_in(
        self, email: str, scopes: list[str] | None = None, **sign_in: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Consent in the simulated browser: the kept flow and the callback's parameters."""
        start = self.auth().begin(
            redirect_uri=REDIRECT,
            state="st-" + uuid.uuid4().hex,
            scopes=scopes or WORKSPACE_SCOPES,
            login_hint=email,
        )
        callback = self.google.sign_in(start.url, email, **sign_in)
        assert callback.startswith(REDIRECT + "?"), callback
        return start.flow, query(callback)

    def connect(self, email: str, scopes: list[str] | None = None) -> Grant:
        flow, params = self.sign_in(email, scopes)
        return self.auth().complete(flow, params)

    def calendar(
        self, email: str, scopes: list[str] | None = None, **options: Any
    ) -> GoogleCalendarClient:
        """A calendar client for ``email`` signed in with ``scopes`` (the workspace scopes)."""
        tokens = GoogleUserTokenSource(self.auth(), self.connect(email, scopes).token_blob)
        return GoogleCalendarClient(self.settings, tokens, **options)


def make_org(simulator: Any) -> Iterator[Org]:
    """Generator for a fixture: a fresh organisation; the simulator's control client is closed
    afterwards."""
    sim = SimulatorClient(simulator.base_url, simulator.certs.ca)
    google: GoogleControl = sim.google
    domain = f"g{uuid.uuid4().hex[:10]}.example"
    google.add_domain(domain, name="Fabrikam Learning")
    google.add_user(f"admin@{domain}", name="Ada Admin", is_admin=True)
    google.add_user(f"ann@{domain}", name="Ann Person")
    google.add_room(f"lisbon@{domain}", "Lisbon", capacity=8, building_id="hq")
    google.add_room(f"oslo@{domain}", "Oslo", capacity=4, building_id="hq")
    client = google.add_client("Calendar service", [REDIRECT])
    google.set_app_trust(domain, client["client_id"], "trusted")
    try:
        yield Org(
            sim=sim,
            google=google,
            domain=domain,
            admin=f"admin@{domain}",
            ann=f"ann@{domain}",
            client=client,
            settings=google_settings(simulator, client),
        )
    finally:
        sim.close()
