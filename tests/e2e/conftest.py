"""End-to-end: the function app on the local host, with real Azurite and the provider simulator.

One host per session. The app reads its settings from the injected ``Services`` (the same
settings object production builds from the environment), with a manual clock the tests move to
cross the 5-day retention boundary. Each test works in its own organisation and its own
Microsoft tenant or Google domain, so tests do not see each other's data.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.azurite import Azurite
from devhost.host import DevHost
from shared.auth.mint import mint
from shared.clock import ManualClock
from shared.secrets.local_store import LocalSecretStore
from shared.services import Services, use_services
from shared.settings import Settings, load_settings
from simulator.client import SimulatorClient
from simulator.server import SimulatorServer
from tests.e2e.openapi_recorder import OpenApiRecorder

RETURN_TO = "https://app.example/settings/calendar"
MICROSOFT_CLIENT_ID = str(uuid.uuid4())
MICROSOFT_SECRET = "e2e-" + secrets.token_urlsafe(16)
GOOGLE_CLIENT_ID = f"{secrets.randbelow(10**12)}-e2e.apps.googleusercontent.com"
GOOGLE_SECRET = "GOCSPX-" + secrets.token_urlsafe(12)


@dataclass
class Stack:
    """The running service and handles on everything around it."""

    host: DevHost
    http: httpx.Client
    sim: SimulatorClient
    simulator: SimulatorServer
    azurite: Azurite
    settings: Settings
    clock: ManualClock
    services: Services
    tokens: dict[tuple[str, str, tuple[str, ...]], str] = field(default_factory=dict)

    def token(self, org: str, sub: str, *roles: str) -> str:
        return mint(self.settings, org=org, sub=sub, roles=roles, ttl_seconds=24 * 3600 * 30)

    def call(
        self, method: str, path: str, *, org: str, sub: str, roles: tuple[str, ...] = (), **kw: Any
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.token(org, sub, *roles)}",
            **kw.pop("headers", {}),
        }
        return self.http.request(method, f"/api/{path}", headers=headers, **kw)

    def follow_callback(self, callback_url: str) -> httpx.Response:
        """The browser arriving back at the service from the provider."""
        assert callback_url.startswith(self.host.base_url), callback_url
        return self.http.get(callback_url.removeprefix(self.host.base_url))


@pytest.fixture(scope="session")
def stack(
    azurite: Azurite, simulator: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    # The app runs on a manual clock here; the scenarios run the timers themselves.
    host = DevHost(
        "function_app:app",
        settings={"AzureWebJobsStorage": azurite.connection_string},
        timers=False,
    )
    host.start()
    base = host.base_url
    sim = SimulatorClient(simulator.base_url, str(simulator.certs.ca))
    sim.create_app(
        "Calendar integration (e2e)",
        client_id=MICROSOFT_CLIENT_ID,
        client_secret=MICROSOFT_SECRET,
        redirect_uris=[
            f"{base}/api/oauth/microsoft/callback",
            f"{base}/api/oauth/microsoft/admin-consent",
        ],
        delegated_permissions=["Calendars.ReadWrite", "User.Read", "offline_access"],
        application_permissions=["Place.Read.All"],
    )
    sim.google.add_client(
        "Calendar integration (e2e)",
        [f"{base}/api/oauth/google/callback"],
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_SECRET,
    )
    secrets_dir = tmp_path_factory.mktemp("secrets")
    settings = load_settings(
        {
            "LOCAL_SETTINGS_FILE": str(Path(secrets_dir) / "none.json"),
            "STORAGE_CONNECTION_STRING": azurite.connection_string,
            "TABLE_PREFIX": "e2e" + secrets.token_hex(3),
            "SECRET_STORE": "local",
            "LOCAL_SECRETS_DIR": str(secrets_dir),
            "LOCAL_SECRETS_KEY": LocalSecretStore.generate_key(),
            "AUTH_SHARED_SECRET": secrets.token_urlsafe(32),
            "PUBLIC_BASE_URL": base,
            "ALLOWED_RETURN_URLS": "https://app.example/settings",
            "PROVIDER_CA_BUNDLE": str(simulator.certs.trust_bundle),
            "MICROSOFT_AUTHORITY_HOST": simulator.base_url,
            "MICROSOFT_GRAPH_URL": f"{simulator.base_url}/graph/v1.0",
            "MICROSOFT_CLIENT_ID": MICROSOFT_CLIENT_ID,
            "MICROSOFT_CLIENT_SECRET": MICROSOFT_SECRET,
            "GOOGLE_AUTH_URI": f"{simulator.base_url}/google/o/oauth2/auth",
            "GOOGLE_TOKEN_URI": f"{simulator.base_url}/google/token",
            "GOOGLE_REVOKE_URI": f"{simulator.base_url}/google/revoke",
            "GOOGLE_CALENDAR_URL": f"{simulator.base_url}/google/calendar/v3/",
            "GOOGLE_ADMIN_URL": f"{simulator.base_url}/google/",
            "GOOGLE_CLIENT_ID": GOOGLE_CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": GOOGLE_SECRET,
            "LOG_FORMAT": "text",
        }
    )
    clock = ManualClock()
    services = Services(settings, clock=clock)
    use_services(services)
    # Every status a route answers in this suite must be declared in its OpenAPI entry.
    recorder = OpenApiRecorder(
        {base: "https://calendar.example.com", simulator.base_url: "https://provider.example"}
    )
    http = httpx.Client(
        base_url=base, trust_env=False, timeout=60, event_hooks={"response": [recorder]}
    )
    try:
        yield Stack(host, http, sim, simulator, azurite, settings, clock, services)
        examples = os.environ.get("OPENAPI_EXAMPLES_OUT")
        if examples:
            recorder.write_examples(Path(examples))
        undeclared = recorder.undeclared()
        assert undeclared == [], (
            f"statuses answered but not declared in the OpenAPI document: {undeclared} "
            "(declare them in shared/http/contract.py)"
        )
    finally:
        from shared.http.flows import consent_context

        consent_context(services).kit.close()
        use_services(None)
        http.close()
        sim.close()
        host.stop()


@pytest.fixture
def org() -> str:
    return "org-" + secrets.token_hex(4)


@pytest.fixture(autouse=True)
def _clock_starts_at_now(request: pytest.FixtureRequest) -> None:
    """Each test starts with the service's clock at the real time (the simulator's clock)."""
    if "stack" in request.fixturenames:
        stack: Stack = request.getfixturevalue("stack")
        stack.clock.set(datetime.now(UTC))
