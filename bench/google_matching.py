"""Requests to match host-app people to Google Workspace users (service integrations).

``python -m bench google_matching`` (or ``python -m bench.google_matching --people 1000
--directory 5000 --missing-percent 5 --alias-percent 10``):

1. a simulated Workspace customer with ``directory`` users (``alias-percent`` of them with an
   alias), and a service account with domain-wide delegation;
2. ``people`` host-app people: addresses of directory users (primary or, for ``alias-percent``,
   the alias), ``missing-percent`` of them unknown to the directory;
3. match them three ways through the real google-auth and google-api-python-client against the
   simulator, counting Admin SDK requests: the adaptive matcher (paged users.list, then
   users.get for the stragglers), a paged listing only, and one users.get per person.

Counts are exact (the simulator answers every request); times include the simulator in the same
process and are only indicative.
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
from shared.providers.google.matching import match_addresses
from shared.providers.google.service_account import (
    DIRECTORY_USERS_SCOPE,
    SERVICE_SCOPES,
    GoogleServiceAccountAuth,
)
from shared.providers.google.users import GoogleUserDirectory
from shared.settings import Settings, load_settings
from simulator.client import SimulatorClient
from simulator.server import SimulatorServer


def _settings(simulator: SimulatorServer) -> Settings:
    base = simulator.base_url
    return load_settings(
        {
            "LOCAL_SETTINGS_FILE": "/nonexistent/local.settings.json",
            "GOOGLE_TOKEN_URI": f"{base}/google/token",
            "GOOGLE_CALENDAR_URL": f"{base}/google/calendar/v3/",
            "GOOGLE_ADMIN_URL": f"{base}/google/",
            "PROVIDER_CA_BUNDLE": str(simulator.certs.trust_bundle or simulator.certs.ca),
        }
    )


def run(people: int, directory: int, missing: float, aliases: float) -> dict[str, object]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as work, SimulatorServer.start(Path(work)) as simulator:
        sim = SimulatorClient(simulator.base_url, simulator.certs.ca)
        google = sim.google
        domain = f"bench{uuid.uuid4().hex[:6]}.example"
        google.add_domain(domain)
        google.add_user(f"admin@{domain}", is_admin=True)
        users = [
            {
                "email": f"u{i:06d}@{domain}",
                "aliases": [f"alias{i:06d}@{domain}"] if rng.random() < aliases / 100 else [],
            }
            for i in range(directory)
        ]
        for start in range(0, len(users), 1000):
            google.add_users(domain, users[start : start + 1000])
        key = google.add_service_account("bench-matching")
        google.grant_delegation(domain, key["client_id"], list(SERVICE_SCOPES))
        picked = rng.sample(users, min(people, len(users)))
        addresses = []
        for user in picked:
            if rng.random() < missing / 100:
                addresses.append(f"missing-{uuid.uuid4().hex[:8]}@{domain}")
            elif user["aliases"]:
                addresses.append(user["aliases"][0])
            else:
                addresses.append(user["email"])
        settings = _settings(simulator)
        tokens = GoogleServiceAccountAuth(
            settings, key, f"admin@{domain}", scopes=[DIRECTORY_USERS_SCOPE]
        )
        figures: dict[str, object] = {
            "people": len(addresses),
            "directory_users": directory + 1,
        }

        with GoogleUserDirectory(settings, tokens) as reader:
            began = time.perf_counter()
            found = match_addresses(reader, addresses)
            figures["adaptive_requests"] = reader.requests
            figures["adaptive_seconds"] = round(time.perf_counter() - began, 2)
        figures["matched"] = sum(1 for m in found.values() if m.matched)
        figures["not_found"] = sum(1 for m in found.values() if m.reason == "not_found")

        with GoogleUserDirectory(settings, tokens) as reader:
            token: str | None = None
            while True:
                token = reader.page(token).next_page
                if token is None:
                    break
            figures["paged_listing_requests"] = reader.requests

        with GoogleUserDirectory(settings, tokens) as reader:
            began = time.perf_counter()
            for address in addresses:
                reader.find(address)
            figures["per_person_get_requests"] = reader.requests
            figures["per_person_get_seconds"] = round(time.perf_counter() - began, 2)
        sim.close()
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = matching_arguments("python -m bench.google_matching", __doc__, argv)
    figures = run(args.people, args.directory, args.missing_percent, args.alias_percent)
    print(
        f"  {figures['people']} people, {figures['directory_users']} directory users: "
        f"adaptive {figures['adaptive_requests']} requests ({figures['adaptive_seconds']} s), "
        f"paged listing {figures['paged_listing_requests']}, "
        f"one users.get each {figures['per_person_get_requests']} "
        f"({figures['per_person_get_seconds']} s); matched {figures['matched']}, "
        f"not found {figures['not_found']}"
    )
    print(json.dumps({"bench": "google_matching", **figures}))


if __name__ == "__main__":
    main(sys.argv[1:])
