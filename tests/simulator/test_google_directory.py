"""Admin SDK rooms list and service accounts with domain-wide delegation, with the real libraries
(google-api-python-client ``admin``/``directory_v1``, ``google.oauth2.service_account``)."""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import google_auth_httplib2
import httplib2
import httpx
import pytest
from google.auth.credentials import Credentials as BaseCredentials
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from simulator.google.client import GoogleControl
from simulator.server import SimulatorServer

CALENDAR = "https://www.googleapis.com/auth/calendar"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
ROOMS_READONLY = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
REDIRECT = "https://app.example/api/oauth/google/callback"


@pytest.fixture
def google(simulator: SimulatorServer) -> Iterator[GoogleControl]:
    context = ssl.create_default_context(cafile=str(simulator.certs.ca))
    with httpx.Client(base_url=simulator.base_url, verify=context) as http:
        yield GoogleControl(http)


@pytest.fixture
def org(google: GoogleControl) -> dict[str, Any]:
    domain = f"org{uuid.uuid4().hex[:8]}.example"
    created = google.add_domain(domain, name="Fabrikam")
    google.add_user(f"admin@{domain}", is_admin=True)
    google.add_user(f"ann@{domain}")
    for i in range(3):
        google.add_room(f"room{i}@{domain}", f"Room {i}", capacity=4 + i, building_id="hq")
    client = google.add_client("Scheduler", [REDIRECT])
    return {"domain": domain, "customer_id": created["customer_id"], "client": client}


_open: list[Any] = []


@pytest.fixture(autouse=True)
def _close_services() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def service(simulator: SimulatorServer, creds: BaseCredentials, name: str, version: str) -> Any:
    """A discovery client on the simulator; the Admin SDK's endpoint is the bare root."""
    endpoint = (
        f"{simulator.base_url}/google/calendar/v3/"
        if name == "calendar"
        else f"{simulator.base_url}/google/"
    )
    http = google_auth_httplib2.AuthorizedHttp(
        creds, http=httplib2.Http(ca_certs=str(simulator.certs.ca))
    )
    built = build(
        name, version, http=http, static_discovery=True, client_options={"api_endpoint": endpoint}
    )
    _open.append(built)
    return built


def reason(error: HttpError) -> tuple[int, str, str]:
    body = json.loads(error.content)["error"]
    return body["code"], body["errors"][0]["reason"], body["message"]


def test_admin_lists_rooms_page_by_page(
    simulator: SimulatorServer, google: GoogleControl, org: dict[str, Any]
) -> None:
    token = google.consent_tokens(org["client"], f"admin@{org['domain']}", [ROOMS_READONLY])
    admin = service(simulator, Credentials(token["access_token"]), "admin", "directory_v1")
    rooms = admin.resources().calendars()
    request = rooms.list(customer="my_customer", maxResults=2)
    names: list[str] = []
    while request is not None:
        page = request.execute()
        names += [r["resourceName"] for r in page["items"]]
        request = rooms.list_next(request, page)
    assert sorted(names) == ["Room 0", "Room 1", "Room 2"]
    first = admin.resources().calendars().list(customer=org["customer_id"]).execute()["items"][0]
    assert first["resourceEmail"].endswith("@" + org["domain"])
    assert first["capacity"] in (4, 5, 6)
    assert first["buildingId"] == "hq"


def test_non_admin_is_not_authorized_to_list_rooms(
    simulator: SimulatorServer, google: GoogleControl, org: dict[str, Any]
) -> None:
    token = google.consent_tokens(org["client"], f"ann@{org['domain']}", [ROOMS_READONLY])
    admin = service(simulator, Credentials(token["access_token"]), "admin", "directory_v1")
    with pytest.raises(HttpError) as denied:
        admin.resources().calendars().list(customer="my_customer").execute()
    assert reason(denied.value) == (403, "forbidden", "Not Authorized to access this resource/api")


def test_service_account_with_delegation_reads_calendars_and_rooms(
    simulator: SimulatorServer, google: GoogleControl, org: dict[str, Any]
) -> None:
    key = google.add_service_account("calendar-sync")
    google.grant_delegation(org["domain"], key["client_id"], [CALENDAR, ROOMS_READONLY])
    base = service_account.Credentials.from_service_account_info(key)
    google.create_event(
        f"ann@{org['domain']}",
        {
            "summary": "Yoga",
            "start": {"dateTime": "2030-01-01T09:00:00Z"},
            "end": {"dateTime": "2030-01-01T10:00:00Z"},
        },
    )
    as_ann = base.with_scopes([CALENDAR]).with_subject(f"ann@{org['domain']}")
    items = service(simulator, as_ann, "calendar", "v3").events().list(calendarId="primary")
    assert [e["summary"] for e in items.execute()["items"]] == ["Yoga"]
    as_admin = base.with_scopes([ROOMS_READONLY]).with_subject(f"admin@{org['domain']}")
    rooms = service(simulator, as_admin, "admin", "directory_v1").resources().calendars()
    assert len(rooms.list(customer="my_customer").execute()["items"]) == 3


def test_service_account_without_delegation_is_an_unauthorized_client(
    simulator: SimulatorServer, google: GoogleControl, org: dict[str, Any]
) -> None:
    key = google.add_service_account("not-delegated")
    google.grant_delegation(org["domain"], key["client_id"], [CALENDAR_EVENTS])
    creds = service_account.Credentials.from_service_account_info(
        key, scopes=[CALENDAR], subject=f"ann@{org['domain']}"
    )
    calendar = service(simulator, creds, "calendar", "v3")
    with pytest.raises(RefreshError) as refused:
        calendar.events().list(calendarId="primary").execute()
    assert "unauthorized_client" in str(refused.value)
    assert "Client is unauthorized to retrieve access tokens using this method" in str(
        refused.value
    )


def test_service_account_key_from_another_world_is_refused(
    simulator: SimulatorServer, google: GoogleControl, org: dict[str, Any]
) -> None:
    key = google.add_service_account("rotated")
    other = google.add_service_account("other")
    google.grant_delegation(org["domain"], key["client_id"], [CALENDAR])
    forged = dict(key, private_key=other["private_key"], private_key_id=other["private_key_id"])
    creds = service_account.Credentials.from_service_account_info(
        forged, scopes=[CALENDAR], subject=f"ann@{org['domain']}"
    )
    with pytest.raises(RefreshError) as refused:
        service(simulator, creds, "calendar", "v3").events().list(calendarId="primary").execute()
    assert "Invalid JWT Signature." in str(refused.value)
