"""Contract tests: the real msal (ConfidentialClientApplication) against the simulated Entra ID.

Each test builds its own tenant and app through the control client, drives the sign-in pages
with :meth:`SimulatorClient.microsoft_sign_in` and lets msal do what the service does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import msal
import pytest
import requests

from simulator.client import SimulatorClient
from simulator.server import SimulatorServer
from simulator.world import World

REDIRECT = "http://localhost:7071/api/oauth/microsoft/callback"
SCOPES = ["Calendars.ReadWrite", "User.Read"]


@pytest.fixture(scope="module")
def server(simulator_cert_dir: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer.start(
        simulator_cert_dir,
        world=World(seed=7),
        areas=["simulator.control", "simulator.microsoft.identity"],
    ) as running:
        yield running


@pytest.fixture
def sim(server: SimulatorServer) -> Iterator[SimulatorClient]:
    with SimulatorClient(server.base_url, server.certs.ca) as client:
        client.reset()
        yield client


@dataclass
class Org:
    sim: SimulatorClient
    base_url: str
    trust: Path
    tenant: dict[str, Any]
    admin: dict[str, Any]
    user: dict[str, Any]
    app: dict[str, Any]
    sessions: list[requests.Session] = field(default_factory=list)

    def msal_app(self, authority_tenant: str | None = None, secret: str | None = None) -> Any:
        session = requests.Session()
        # REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE would override verify=: ignore the environment.
        session.trust_env = False
        session.verify = str(self.trust)
        self.sessions.append(session)
        return msal.ConfidentialClientApplication(
            self.app["client_id"],
            client_credential=secret or self.app["client_secret"],
            authority=f"{self.base_url}/{authority_tenant or self.tenant['id']}",
            instance_discovery=False,
            http_client=session,
        )


@pytest.fixture
def org(sim: SimulatorClient, server: SimulatorServer) -> Iterator[Org]:
    domain = f"org{uuid.uuid4().hex[:6]}.example"
    tenant = sim.create_tenant(domain, "Contoso")
    admin = sim.create_user(tenant["id"], "admin", display_name="Ada Admin", is_admin=True)
    user = sim.create_user(tenant["id"], "bob", display_name="Bob Builder")
    app = sim.create_app(
        "Calendar service",
        client_secret="app-secret",
        redirect_uris=[REDIRECT],
        delegated_permissions=["Calendars.ReadWrite", "User.Read", "offline_access"],
        application_permissions=["Calendars.ReadWrite", "User.Read.All"],
    )
    made = Org(sim, server.base_url, server.certs.trust_bundle, tenant, admin, user, app)
    yield made
    # Open keep-alive connections would hold the server's graceful shutdown.
    for session in made.sessions:
        session.close()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def _connect(org: Org, email: str, **sign_in: Any) -> tuple[Any, dict[str, Any], dict[str, str]]:
    app = org.msal_app()
    flow = app.initiate_auth_code_flow(
        SCOPES, redirect_uri=REDIRECT, login_hint=email, response_mode="form_post"
    )
    callback = org.sim.microsoft_sign_in(flow["auth_uri"], email, **sign_in)
    assert callback.startswith(REDIRECT)
    return app, flow, _query(callback)


def test_user_consents_and_msal_redeems_the_code(org: Org) -> None:
    app, flow, response = _connect(org, org.user["mail"])
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["oid"] == org.user["id"]
    assert result["id_token_claims"]["tid"] == org.tenant["id"]
    assert result["id_token_claims"]["preferred_username"] == org.user["user_principal_name"]
    accounts = app.get_accounts()
    assert [a["home_account_id"] for a in accounts] == [f"{org.user['id']}.{org.tenant['id']}"]
    sp = org.sim.service_principal(org.tenant["id"], org.app["client_id"])
    assert set(SCOPES) <= set(sp["delegated_grants"][org.user["id"]])


def test_refresh_token_rotates_and_the_old_one_is_refused(org: Org) -> None:
    app, flow, response = _connect(org, org.user["mail"])
    first = app.acquire_token_by_auth_code_flow(flow, response)
    second = app.acquire_token_by_refresh_token(first["refresh_token"], SCOPES)
    assert "access_token" in second, second
    assert second["refresh_token"] != first["refresh_token"]
    again = app.acquire_token_by_refresh_token(first["refresh_token"], SCOPES)
    assert again["error"] == "invalid_grant"
    third = app.acquire_token_by_refresh_token(second["refresh_token"], SCOPES)
    assert "access_token" in third, third


def test_silent_acquisition_uses_the_rotated_refresh_token(org: Org) -> None:
    app, flow, response = _connect(org, org.user["mail"])
    app.acquire_token_by_auth_code_flow(flow, response)
    account = app.get_accounts()[0]
    cached = app.acquire_token_silent(SCOPES, account=account)
    assert cached["token_source"] == "cache"
    # msal times its cache with the real clock, so the refresh is forced rather than awaited.
    first_rt = next(iter(app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)))
    refreshed = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert refreshed["token_source"] == "identity_provider", refreshed
    rts = list(app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN))
    assert [rt["secret"] for rt in rts] != [first_rt["secret"]]
    again = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert again["token_source"] == "identity_provider", again


def test_client_credentials_carry_the_admin_consented_app_roles(org: Org) -> None:
    org.sim.grant_consent(
        org.tenant["id"], org.app["client_id"], app_roles=["Calendars.ReadWrite", "User.Read.All"]
    )
    result = org.msal_app().acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result
    import jwt

    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["Calendars.ReadWrite", "User.Read.All"]
    assert claims["tid"] == org.tenant["id"]
    vault = org.msal_app().acquire_token_for_client(["https://vault.azure.net/.default"])
    assert jwt.decode(vault["access_token"], options={"verify_signature": False})["aud"] == (
        "https://vault.azure.net"
    )
