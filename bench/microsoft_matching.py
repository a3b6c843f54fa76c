"""Requests to match host-app people to Entra ID users (Microsoft service integrations).

``python -m bench microsoft_matching`` (or ``python -m bench.microsoft_matching --people 1000
--directory 5000 --missing-percent 5 --alias-percent 10``):

1. a simulated tenant with ``directory`` users (``alias-percent`` of them with an alias in
   ``proxyAddresses``) and an app registration with consented application permissions;
2. ``people`` host-app people: addresses of directory users (primary or, for
   ``alias-percent``, the alias), ``missing-percent`` of them unknown to the directory;
3. match them through the real msal (client credentials) and Graph against the simulator,
   the two ways :class:`~shared.providers.microsoft.directory.GraphDirectory` can: one
   ``$filter`` per person and property, 20 per ``$batch``; and one paged listing of the
   directory (``$top=999``). Both then probe each matched mailbox, 20 per ``$batch``.

Counts are Graph requests the matcher sent (a ``$batch`` is one request); times include the
simulator in the same process and are only indicative.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from bench.common import matching_arguments
from shared.providers.microsoft.directory import GraphDirectory
from shared.providers.microsoft.service import MicrosoftServiceProvider
from shared.service.model import ServiceConfig
from shared.settings import Settings, load_settings
from simulator.client import SimulatorClient
from simulator.server import SimulatorServer

PERMISSIONS = ["Calendars.ReadWrite", "User.Read.All"]


def _settings(simulator: SimulatorServer) -> Settings:
    base = simulator.base_url
    return load_settings(
        {
            "LOCAL_SETTINGS_FILE": "/nonexistent/local.settings.json",
            "MICROSOFT_AUTHORITY_HOST": base,
            "MICROSOFT_GRAPH_URL": f"{base}/graph/v1.0",
            "PROVIDER_CA_BUNDLE": str(simulator.certs.trust_bundle or simulator.certs.ca),
        }
    )


def run(people: int, directory: int, missing: float, aliases: float) -> dict[str, object]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as work, SimulatorServer.start(Path(work)) as simulator:
        sim = SimulatorClient(simulator.base_url, simulator.certs.ca)
        domain = f"bench{uuid.uuid4().hex[:6]}.example"
        tenant = sim.create_tenant(domain)["id"]
        users = []
        for i in range(directory):
            alias = f"alias{i:06d}@{domain}" if rng.random() < aliases / 100 else None
            proxies = [f"SMTP:u{i:06d}@{domain}"] + ([f"smtp:{alias}"] if alias else [])
            users.append({"local_part": f"u{i:06d}", "proxy_addresses": proxies, "alias": alias})
        for start in range(0, len(users), 1000):
            chunk = users[start : start + 1000]
            sim.create_users(tenant, [{k: v for k, v in u.items() if k != "alias"} for u in chunk])
        client_id = str(uuid.uuid4())
        sim.create_app(
            "bench", client_id=client_id, home_tenant_id=tenant, application_permissions=PERMISSIONS
        )
        secret = sim.add_password(client_id)["secretText"]
        sim.grant_consent(tenant, client_id, app_roles=PERMISSIONS)
        picked = rng.sample(users, min(people, len(users)))
        addresses = []
        for user in picked:
            if rng.random() < missing / 100:
                addresses.append(f"missing-{uuid.uuid4().hex[:8]}@{domain}")
            else:
                addresses.append(str(user["alias"] or f"{user['local_part']}@{domain}"))
        settings = _settings(simulator)
        provider = MicrosoftServiceProvider(settings)
        config = ServiceConfig(
            org="bench",
            integration_id="bench",
            provider="microsoft",
            credential_type="client_secret",
            settings={"tenant_id": tenant, "client_id": client_id},
        )
        credential = provider.credential(config, json.dumps({"client_secret": secret}))
        figures: dict[str, object] = {"people": len(addresses), "directory_users": directory}
        for name, list_above in (("batched_filters", 10**9), ("paged_listing", 0)):
            matcher = GraphDirectory(
                settings, credential.token_source(), tenant_id=tenant, list_above=list_above
            )
            began = time.perf_counter()
            found = matcher.match(addresses)
            figures[f"{name}_requests"] = matcher.requests
            figures[f"{name}_seconds"] = round(time.perf_counter() - began, 2)
            figures["matched"] = sum(1 for m in found.values() if m.user is not None)
            figures["not_found"] = sum(1 for m in found.values() if m.user is None)
        # Part of both counts: one mailbox probe per matched person, 20 per $batch.
        figures["mailbox_probe_requests"] = -(-int(str(figures["matched"])) // 20)
        provider.close()
        sim.close()
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = matching_arguments("python -m bench.microsoft_matching", __doc__, argv)
    figures = run(args.people, args.directory, args.missing_percent, args.alias_percent)
    print(
        f"  {figures['people']} people, {figures['directory_users']} directory users: "
        f"batched filters {figures['batched_filters_requests']} requests "
        f"({figures['batched_filters_seconds']} s), paged listing "
        f"{figures['paged_listing_requests']} ({figures['paged_listing_seconds']} s), "
        f"both including {figures['mailbox_probe_requests']} mailbox-probe batches; "
        f"matched {figures['matched']}, not found {figures['not_found']}"
    )
    print(json.dumps({"bench": "microsoft_matching", **figures}))


if __name__ == "__main__":
    main(sys.argv[1:])
