"""The running parts the sync benchmarks share, and the cheapest legitimate way to seed them.

:func:`running_stack` starts Azurite, the provider simulator (in this process, so its state can
be seeded directly) and the function app on the local host (``DevHost``, for the webhooks Graph
calls back: subscription validation and change notifications). The host's queue listeners poll
a second, empty Azurite: the benchmark itself plays the queue-triggered worker (W threads), so
every sync message the cycle or a webhook enqueues stays countable in the data Azurite.

:func:`seed_org` builds one customer: an Entra ID tenant with ``people`` users whose admin
consented for everyone, an enabled workspace integration, and one connection per user holding
real msal token caches. Going through ``N`` browser sign-ins would dominate the run, so each
user's sign-in ends the way the simulator's own authorize page ends it
(:func:`simulator.microsoft.identity_flow.issue_code`, in-process) and the code is redeemed by
the product's own ``MicrosoftDelegatedAuth.complete`` over HTTP: the token blobs, scopes and
connection rows are exactly those a real sign-in stores.
"""

from __future__ import annotations

import secrets
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

from devhost.azurite import Azurite, start_azurite
from devhost.host import DevHost
from shared.consent.connections import Connection, ConnectionStatus
from shared.consent.context import ConsentContext
from shared.consent.scopes import MICROSOFT_DELEGATED
from shared.http.flows import consent_context, sync_context
from shared.integrations.model import Integration, Kind, Provider, Status
from shared.secrets.local_store import LocalSecretStore
from shared.services import Services, use_services
from shared.settings import Settings, load_settings
from shared.sync.context import SyncContext
from simulator.client import SimulatorClient
from simulator.microsoft import identity_flow
from simulator.microsoft.directory import directory
from simulator.microsoft.identity_state import PendingFlow, grant_admin_consent
from simulator.server import SimulatorServer

CLIENT_ID = str(uuid.uuid4())
CLIENT_SECRET = "bench-" + secrets.token_urlsafe(16)


@dataclass
class Stack:
    """Everything a sync benchmark drives."""

    azurite: Azurite
    simulator: SimulatorServer
    sim: SimulatorClient
    host: DevHost
    settings: Settings
    services: Services
    work: Path

    @property
    def ctx(self) -> ConsentContext:
        return consent_context(self.services)

    @property
    def sctx(self) -> SyncContext:
        return sync_context(self.services)


@dataclass
class SeededOrg:
    org: str
    integration_id: str
    tenant_id: str
    user_ids: list[str]  # Entra ids of the connected people (also their mailbox ids)


@contextmanager
def running_stack(latency_ms: float = 0.0) -> Iterator[Stack]:
    """Start everything; Graph answers after ``latency_ms`` (a simulator fault rule)."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sync-")))
        azurite = stack.enter_context(start_azurite())
        listener_storage = stack.enter_context(start_azurite())
        simulator = SimulatorServer.start(work / "certs")
        stack.callback(simulator.stop)
        host = DevHost(
            "function_app:app",
            settings={"AzureWebJobsStorage": listener_storage.connection_string},
        )
        host.start()
        stack.callback(host.stop)
        base = host.base_url
        sim = SimulatorClient(simulator.base_url, str(simulator.certs.ca))
        stack.callback(sim.close)
        sim.create_app(
            "Calendar integration (bench)",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[f"{base}/api/oauth/microsoft/callback"],
            delegated_permissions=[*MICROSOFT_DELEGATED, "offline_access"],
        )
        if latency_ms:
            sim.add_fault_rule(area="graph", latency_ms=latency_ms)
        settings = load_settings(
            {
                "LOCAL_SETTINGS_FILE": str(work / "none.json"),
                "STORAGE_CONNECTION_STRING": azurite.connection_string,
                "TABLE_PREFIX": "bench" + secrets.token_hex(3),
                "SECRET_STORE": "local",
                "LOCAL_SECRETS_DIR": str(work / "secrets"),
                "LOCAL_SECRETS_KEY": LocalSecretStore.generate_key(),
                "AUTH_SHARED_SECRET": secrets.token_urlsafe(32),
                "PUBLIC_BASE_URL": base,
                "ALLOWED_RETURN_URLS": "https://app.example/settings",
                "PROVIDER_CA_BUNDLE": str(simulator.certs.trust_bundle),
                "MICROSOFT_AUTHORITY_HOST": simulator.base_url,
                "MICROSOFT_GRAPH_URL": f"{simulator.base_url}/graph/v1.0",
                "MICROSOFT_CLIENT_ID": CLIENT_ID,
                "MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
                "LOG_LEVEL": "WARNING",
                "LOG_FORMAT": "text",
            }
        )
        services = Services(settings)
        use_services(services)
        stack.callback(use_services, None)
        stack.callback(lambda: consent_context(services).kit.close())
        yield Stack(azurite, simulator, sim, host, settings, services, work)


def seed_org(stack: Stack, people: int) -> SeededOrg:
    """One customer organisation with ``people`` connected Outlook calendars (see module doc)."""
    world = stack.simulator.world
    ctx = stack.ctx
    org = "org-" + secrets.token_hex(4)
    with world.lock:
        dir_ = directory(world)
        tenant = dir_.add_tenant(f"{org}.example")
        users = [dir_.add_user(tenant, f"person{i}") for i in range(people)]
        # The IT admin consented for the whole organisation (seed: enabling the integration).
        grant_admin_consent(tenant, dir_.apps[CLIENT_ID], set(MICROSOFT_DELEGATED), app_roles=False)
    now = datetime.now(UTC)
    integration = ctx.integrations.insert(
        Integration(
            org=org,
            id=uuid.uuid4().hex[:12],
            kind=Kind.WORKSPACE,
            provider=Provider.MICROSOFT,
            name="Outlook",
            status=Status.ENABLED,
            created_at=now,
            created_by="bench",
            updated_at=now,
            tenant=tenant.id,
            test_passed_at=now,
            enabled_at=now,
            enabled_by="bench",
        )
    )
    auth = ctx.kit.delegated("microsoft")
    callback = ctx.callback_url("microsoft")
    for user in users:
        start = auth.begin(
            redirect_uri=callback,
            state=secrets.token_urlsafe(16),
            scopes=MICROSOFT_DELEGATED,
            login_hint=user.user_principal_name,
        )
        params = dict(parse_qsl(urlsplit(start.url).query))
        flow = PendingFlow(uuid.uuid4().hex, "authorize", tenant.id, params, user.id, tenant.id)
        with world.lock:
            redirect = identity_flow.issue_code(world, flow, user, tenant)
        location = httpx.URL(redirect.headers["location"])
        grant = auth.complete(start.flow, dict(location.params))
        ctx.connections.save(
            Connection(
                org=org,
                integration_id=integration.id,
                subject=user.id,
                status=ConnectionStatus.CONNECTED,
                account=grant.account,
                user_id=grant.user_id,
                tenant=grant.tenant,
                scopes=grant.scopes,
                connected_at=now,
                updated_at=now,
            ),
            grant.token_blob,
        )
    return SeededOrg(org, integration.id, tenant.id, [u.id for u in users])
