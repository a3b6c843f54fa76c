"""Shared pieces of the Microsoft adapter tests: an organisation in the shared simulator (its own
tenant, people, room and app registration), settings pointing the adapter at the simulator, and a
signed-in person's token blob."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from shared.providers.microsoft.auth import DELEGATED_SCOPES, MicrosoftDelegatedAuth
from shared.settings import Settings, load_settings
from simulator.client import SimulatorClient

REDIRECT = "http://localhost:7071/api/oauth/microsoft/callback"
SIGN_IN_SCOPES = ["offline_access", *DELEGATED_SCOPES]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


@dataclass
class Org:
    sim: SimulatorClient
    base_url: str
    settings: Settings
    tenant: dict[str, Any]
    admin: dict[str, Any]
    user: dict[str, Any]
    app: dict[str, Any]
    last_flow: dict[str, Any] = field(default_factory=dict)

    def auth(self) -> MicrosoftDelegatedAuth:
        return MicrosoftDelegatedAuth(self.settings)

    def sign_in(self, email: str | None = None, **sign_in: Any) -> dict[str, str]:
        """Run the consent flow in the simulated browser; the callback's query parameters."""
        auth = self.auth()
        start = auth.begin(
            redirect_uri=REDIRECT,
            state="st-" + uuid.uuid4().hex,
            scopes=SIGN_IN_SCOPES,
            login_hint=email or self.user["mail"],
        )
        self.last_flow = start.flow
        callback = self.sim.microsoft_sign_in(start.url, email or self.user["mail"], **sign_in)
        assert callback.startswith(REDIRECT), callback
        return query(callback)

    def connect(self, email: str | None = None) -> str:
        """A signed-in person's token blob (msal's serialized cache)."""
        params = self.sign_in(email)
        return self.auth().complete(self.last_flow, params).token_blob


def settings_for(simulator: Any, client_id: str, client_secret: str) -> Settings:
    trust: Path = simulator.certs.trust_bundle or simulator.certs.ca
    return load_settings(
        {
            "LOCAL_SETTINGS_FILE": str(Path("/nonexistent/local.settings.json")),
            "MICROSOFT_AUTHORITY_HOST": simulator.base_url,
            "MICROSOFT_GRAPH_URL": simulator.base_url + "/graph/v1.0",
            "MICROSOFT_CLIENT_ID": client_id,
            "MICROSOFT_CLIENT_SECRET": client_secret,
            "PROVIDER_CA_BUNDLE": str(trust),
        }
    )


@pytest.fixture(name="sim", scope="module")
def sim_fixture(simulator: Any) -> Iterator[SimulatorClient]:
    with SimulatorClient(simulator.base_url, simulator.certs.ca) as client:
        yield client


@pytest.fixture(name="org")
def org_fixture(sim: SimulatorClient, simulator: Any) -> Org:
    domain = f"org{uuid.uuid4().hex[:8]}.example"
    tenant = sim.create_tenant(domain, "Contoso")
    admin = sim.create_user(tenant["id"], "admin", display_name="Ada Admin", is_admin=True)
    user = sim.create_user(tenant["id"], "bob", display_name="Bob Builder")
    app = sim.create_app(
        "Calendar service",
        client_secret="app-secret-" + uuid.uuid4().hex,
        redirect_uris=[REDIRECT],
        delegated_permissions=["Calendars.ReadWrite", "User.Read", "offline_access"],
        application_permissions=["Calendars.ReadWrite", "Place.Read.All"],
    )
    settings = settings_for(simulator, app["client_id"], app["client_secret"])
    return Org(sim, simulator.base_url, settings, tenant, admin, user, app)
