"""The demo Google Workspace (simulator.google.demo) works end to end through SimulatorClient."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from simulator.client import SimulatorClient
from simulator.google import demo
from simulator.server import SimulatorServer

ROOMS_READONLY = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"


@pytest.fixture
def sim(simulator: SimulatorServer) -> Iterator[SimulatorClient]:
    with SimulatorClient(simulator.base_url, simulator.certs.ca) as client:
        yield client


def test_demo_domain_lets_an_instructor_connect_and_the_admin_list_rooms(
    simulator: SimulatorServer, sim: SimulatorClient
) -> None:
    seeded = demo.seed(simulator.world)
    again = demo.seed(simulator.world)  # seeding twice keeps the same people
    assert seeded["domain"] == again["domain"]
    client = seeded["client"]
    assert (client["client_id"], client["client_secret"]) == (demo.CLIENT_ID, demo.CLIENT_SECRET)
    assert client["redirect_uris"] == [demo.REDIRECT_URI]
    assert client["token_uri"] == f"{simulator.base_url}/google/token"

    url = (
        f"{client['auth_uri']}?client_id={demo.CLIENT_ID}&redirect_uri={demo.REDIRECT_URI}"
        f"&response_type=code&scope={CALENDAR_EVENTS}&state=abc"
    )
    callback = sim.google.sign_in(url, "bianca.instructor@fabrikam.example")
    assert callback.startswith(demo.REDIRECT_URI + "?")
    assert parse_qs(urlsplit(callback).query)["state"] == ["abc"]

    token = sim.google.consent_tokens(client, "alex.admin@fabrikam.example", [ROOMS_READONLY])
    rooms = sim.google.http.get(
        "/google/admin/directory/v1/customer/my_customer/resources/calendars",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    ).json()["items"]
    assert sorted(r["resourceEmail"] for r in rooms) == [
        "room-lisbon@fabrikam.example",
        "room-oslo@fabrikam.example",
    ]
