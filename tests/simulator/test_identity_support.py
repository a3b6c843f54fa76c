"""Fixtures and checks shared by the identity-platform tests (a simulator with the control API
and the identity platform only, an organisation per test, and the public error shapes)."""

from __future__ import annotations

import json
import re
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

PAYLOADS = Path(__file__).parent / "payloads" / "microsoft_identity"

REDIRECT = "http://localhost:7071/api/oauth/microsoft/callback"
SCOPES = ["Calendars.ReadWrite", "User.Read"]


@pytest.fixture(scope="module", name="server")
def server_fixture(simulator_cert_dir: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer.start(
        simulator_cert_dir,
        world=World(seed=7),
        areas=["simulator.control", "simulator.microsoft.identity"],
    ) as running:
        yield running


@pytest.fixture(name="sim")
def sim_fixture(server: SimulatorServer) -> Iterator[SimulatorClient]:
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


@pytest.fixture(name="org")
def org_fixture(sim: SimulatorClient, server: SimulatorServer) -> Iterator[Org]:
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
    return query(url)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def connect(org: Org, email: str, **sign_in: Any) -> tuple[Any, dict[str, Any], dict[str, str]]:
    app = org.msal_app()
    flow = app.initiate_auth_code_flow(
        SCOPES, redirect_uri=REDIRECT, login_hint=email, response_mode="form_post"
    )
    callback = org.sim.microsoft_sign_in(flow["auth_uri"], email, **sign_in)
    assert callback.startswith(REDIRECT)
    return app, flow, query(callback)


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$")


def assert_description(description: str, code: int) -> None:
    """``AADSTSnnnn: text`` then Trace ID, Correlation ID and Timestamp lines, CRLF-separated."""
    lines = description.split("\r\n")
    assert lines[0].startswith(f"AADSTS{code}: "), description
    assert [line.split(": ", 1)[0] for line in lines[1:]] == [
        "Trace ID",
        "Correlation ID",
        "Timestamp",
    ]
    assert UUID.match(lines[1].split(": ", 1)[1])
    assert STAMP.match(lines[3].split(": ", 1)[1])
    for text in payload("error_codes.json")["codes"].get(str(code), {}).get("contains", []):
        assert text in lines[0], (text, lines[0])


def assert_token_error(body: dict[str, Any], code: int) -> None:
    """A /token error body field by field against Microsoft's published example."""
    example = payload("token_error_invalid_scope.json")["body"]
    entry = payload("error_codes.json")["codes"].get(str(code), {})
    # Some codes come with another error value (and a suberror) from /token than at the redirect.
    expected = entry.get("token", entry)
    keys = set(example) | ({"suberror"} if "suberror" in expected else set())
    assert set(body) == keys, body
    assert body["error_codes"] == [code]
    if "error" in expected:
        assert body["error"] == expected["error"]
    if "suberror" in expected:
        assert body["suberror"] == expected["suberror"]
    assert_description(body["error_description"], code)
    assert STAMP.match(body["timestamp"])
    assert body["error_description"].endswith(f"Timestamp: {body['timestamp']}")
    assert f"Trace ID: {body['trace_id']}" in body["error_description"]
    assert f"Correlation ID: {body['correlation_id']}" in body["error_description"]
    assert body["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"


def assert_redirect_error(params: dict[str, str], code: int, state: str | None) -> None:
    """Error parameters on the redirect URI: error, error_description, error_uri, state."""
    example = _query(payload("authorize_error_redirect.json")["location"])
    expected = payload("error_codes.json")["codes"].get(str(code), {})
    assert set(example) <= set(params), params
    if "error" in expected:
        assert params["error"] == expected["error"]
    assert_description(params["error_description"], code)
    assert params["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"
    assert params.get("state") == state
