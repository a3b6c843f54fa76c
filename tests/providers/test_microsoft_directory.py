"""Matching people to Entra ID users through Graph, app-only (real msal, simulated tenant):
precedence of mail over userPrincipalName over proxyAddresses, ambiguity never resolved by
guessing, guests, disabled accounts, mailboxes missing or outside the app's scope, and the same
outcome from both strategies (batched filters and one paged listing)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shared.errors import ProviderDenied
from shared.providers.microsoft.directory import GraphDirectory
from shared.providers.microsoft.service import MicrosoftServiceProvider
from shared.service.model import MatchReason, ServiceConfig
from simulator.client import SimulatorClient
from tests.providers.microsoft_support import settings_for, sim_fixture  # noqa: F401

PERMISSIONS = ["Calendars.ReadWrite", "User.Read.All"]


@dataclass
class Tenant:
    sim: SimulatorClient
    id: str
    domain: str
    provider: MicrosoftServiceProvider
    config: ServiceConfig
    secret: str
    users: dict[str, dict[str, Any]]

    def directory(self, list_above: int) -> GraphDirectory:
        credential = self.provider.credential(
            self.config, json.dumps({"client_secret": self.secret})
        )
        return GraphDirectory(
            self.provider._settings,
            credential.token_source(),
            tenant_id=self.id,
            list_above=list_above,
        )

    def email(self, local: str) -> str:
        return f"{local}@{self.domain}"


def _tenant(sim: SimulatorClient, simulator: Any, *, consent: bool = True) -> Tenant:
    domain = f"d{uuid.uuid4().hex[:8]}.example"
    tenant_id = sim.create_tenant(domain)["id"]
    client_id = str(uuid.uuid4())
    sim.create_app(
        "matching",
        client_id=client_id,
        home_tenant_id=tenant_id,
        application_permissions=PERMISSIONS,
    )
    secret = sim.add_password(client_id)["secretText"]
    if consent:
        sim.grant_consent(tenant_id, client_id, app_roles=PERMISSIONS)
    settings = settings_for(simulator, str(uuid.uuid4()), "unused")
    config = ServiceConfig(
        org="o",
        integration_id=uuid.uuid4().hex,
        provider="microsoft",
        credential_type="client_secret",
        settings={"tenant_id": tenant_id, "client_id": client_id},
    )
    return Tenant(sim, tenant_id, domain, MicrosoftServiceProvider(settings), config, secret, {})


@pytest.fixture(name="tenant")
def tenant_fixture(sim: SimulatorClient, simulator: Any) -> Iterator[Tenant]:
    tenant = _tenant(sim, simulator)
    add = tenant.users.__setitem__

    def user(local: str, **graph: Any) -> None:
        add(local, sim.create_user(tenant.id, local, **graph))

    user("ada")
    # Bob signs in as bob@, but his mail is robert@; Rob's sign-in name is robert@ (another user).
    user("bob", mail=tenant.email("robert"))
    user("robert", mail=tenant.email("rob.smith"))
    user("carol", proxy_addresses=[f"SMTP:{tenant.email('carol')}", f"smtp:{tenant.email('cj')}"])
    user("dup1", mail=tenant.email("desk"))
    user("dup2", mail=tenant.email("desk"))
    user("gone")
    sim.update_user(tenant.id, tenant.users["gone"]["id"], account_enabled=False)
    user("visitor", user_type="Guest")
    user("onprem", has_mailbox=False)
    user("outsider")
    scope = [u["id"] for k, u in tenant.users.items() if k != "outsider"]
    sim.set_mailbox_scope(tenant.id, tenant.config.settings["client_id"], scope)
    yield tenant
    tenant.provider.close()


EXPECTED = {
    "ada": ("ada", "mail"),
    "robert": ("bob", "mail"),  # mail wins over robert@'s userPrincipalName
    "cj": ("carol", "proxyAddresses"),
    "desk": (MatchReason.AMBIGUOUS, None),
    "gone": (MatchReason.DISABLED, None),
    "visitor": (MatchReason.GUEST, None),
    "onprem": (MatchReason.NO_MAILBOX, None),
    "outsider": (MatchReason.OUTSIDE_SCOPE, None),
    "nobody": (MatchReason.NOT_FOUND, None),
}


@pytest.mark.parametrize("list_above", [1000, 0], ids=["batched_filters", "paged_listing"])
def test_each_address_gets_the_documented_outcome_whatever_the_strategy(
    tenant: Tenant, list_above: int
) -> None:
    directory = tenant.directory(list_above)
    emails = [tenant.email(local).upper() for local in EXPECTED]

    found = directory.match(emails)

    assert set(found) == {e.lower() for e in emails}
    for local, (want, prop) in EXPECTED.items():
        match = found[tenant.email(local)]
        if isinstance(want, MatchReason):
            assert (match.user, match.reason) == (None, want), local
        else:
            assert match.user is not None and match.user.id == tenant.users[want]["id"], local
            assert match.detail == prop
    assert directory.requests >= 1


def test_filters_go_20_to_a_batch(tenant: Tenant) -> None:
    directory = tenant.directory(1000)
    emails = [tenant.email(f"nobody{i}") for i in range(41)]
    found = directory.match(emails)
    assert {m.reason for m in found.values()} == {MatchReason.NOT_FOUND}
    # 41 people: three $batch requests per property (20 + 20 + 1), three properties.
    assert directory.requests == 9


def test_a_directory_read_without_admin_consent_is_denied(
    sim: SimulatorClient, simulator: Any
) -> None:
    tenant = _tenant(sim, simulator, consent=False)
    with pytest.raises(ProviderDenied) as raised:
        tenant.directory(1000).probe()
    assert raised.value.provider_code == "Authorization_RequestDenied"
    tenant.provider.close()
