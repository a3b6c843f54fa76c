"""Calendar v3 on the simulator through google-api-python-client (static discovery, httplib2).

Scenarios follow what the sync engine relies on: client-chosen ids, paging and sync tokens,
changes made by people in Google Calendar, deletions, etag conflicts, 410 on invalidated tokens,
scopes and rooms answering invitations.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import google_auth_httplib2
import httplib2
import httpx
import pytest
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from simulator.google.client import GoogleControl
from simulator.server import SimulatorServer

CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
CALENDAR_READONLY = "https://www.googleapis.com/auth/calendar.readonly"
REDIRECT = "https://app.example/api/oauth/google/callback"


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorServer:
    """The shared simulator (tests/conftest.py); each test works in a domain of its own."""
    return simulator


@pytest.fixture
def google(sim: SimulatorServer) -> Iterator[GoogleControl]:
    context = ssl.create_default_context(cafile=str(sim.certs.ca))
    with httpx.Client(base_url=sim.base_url, verify=context) as http:
        yield GoogleControl(http)


@pytest.fixture
def org(google: GoogleControl) -> dict[str, str]:
    domain = f"org{uuid.uuid4().hex[:8]}.example"
    google.add_domain(domain, name="Fabrikam")
    google.add_user(f"ann@{domain}")
    google.add_user(f"bob@{domain}")
    google.add_room(f"lisbon@{domain}", "Lisbon", capacity=8, policy="accept")
    google.add_room(f"oslo@{domain}", "Oslo", capacity=4, policy="decline_when_busy")
    google.add_room(f"attic@{domain}", "Attic", policy="never_answer")
    client = google.add_client("Scheduler", [REDIRECT])
    return {"domain": domain, "ann": f"ann@{domain}", **client}


def user_credentials(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str], scopes: list[str]
) -> Credentials:
    """Consent as Ann through the authorization endpoint and exchange the code."""
    query = (
        f"client_id={org['client_id']}&redirect_uri={REDIRECT}&response_type=code"
        f"&scope={'%20'.join(scopes)}&access_type=offline"
    )
    redirect = google.sign_in(f"{org['auth_uri']}?{query}", org["ann"])
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(sim.certs.ca)
        token = session.post(
            org["token_uri"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": org["client_id"],
                "client_secret": org["client_secret"],
            },
        ).json()
    return Credentials(
        token["access_token"],
        refresh_token=token["refresh_token"],
        token_uri=org["token_uri"],
        client_id=org["client_id"],
        client_secret=org["client_secret"],
        scopes=token["scope"].split(),
    )


_open: list[Any] = []


@pytest.fixture(autouse=True)
def _close_services() -> Iterator[None]:
    # httplib2 keeps connections open until closed (googleapiclient Resource.close docs).
    yield
    while _open:
        _open.pop().close()


def calendar_service(sim: SimulatorServer, creds: Credentials) -> Any:
    """A Calendar client on the simulator (closed after the test)."""
    http = google_auth_httplib2.AuthorizedHttp(
        creds, http=httplib2.Http(ca_certs=str(sim.certs.ca))
    )
    service = build(
        "calendar",
        "v3",
        http=http,
        static_discovery=True,
        client_options={"api_endpoint": f"{sim.base_url}/google/calendar/v3/"},
    )
    _open.append(service)
    return service


@pytest.fixture
def calendar(sim: SimulatorServer, google: GoogleControl, org: dict[str, str]) -> Any:
    return calendar_service(sim, user_credentials(sim, google, org, [CALENDAR_EVENTS]))


def slot(hour: int, minutes: int = 60) -> dict[str, Any]:
    start = f"2030-05-06T{hour:02d}:00:00Z"
    end_hour, end_minute = hour + minutes // 60, minutes % 60
    return {
        "start": {"dateTime": start},
        "end": {"dateTime": f"2030-05-06T{end_hour:02d}:{end_minute:02d}:00Z"},
    }


def reason(error: HttpError) -> tuple[int, str]:
    body = json.loads(error.content)
    return body["error"]["code"], body["error"]["errors"][0]["reason"]


def test_app_inserts_with_its_own_id_and_reads_it_back(calendar: Any, org: dict[str, str]) -> None:
    event_id = "lesson" + uuid.uuid4().hex[:10].replace("w", "v")
    body = {
        "id": event_id,
        "summary": "Piano lesson",
        "location": "Studio 2",
        "extendedProperties": {"private": {"booking": "b-17"}, "shared": {"kind": "lesson"}},
        "attendees": [{"email": "pupil@example.net"}],
        **slot(9),
    }
    created = (
        calendar.events().insert(calendarId="primary", body=body, sendUpdates="none").execute()
    )
    assert created["id"] == event_id
    assert created["status"] == "confirmed"
    assert created["iCalUID"] == f"{event_id}@google.com"
    assert created["organizer"] == {"email": org["ann"], "self": True}
    assert created["attendees"] == [{"email": "pupil@example.net", "responseStatus": "needsAction"}]
    assert created["sequence"] == 0
    assert created["etag"].startswith('"')
    fetched = calendar.events().get(calendarId=org["ann"], eventId=event_id).execute()
    assert fetched == created
    found = (
        calendar.events()
        .list(calendarId="primary", privateExtendedProperty="booking=b-17")
        .execute()["items"]
    )
    assert [e["id"] for e in found] == [event_id]


def test_duplicate_or_malformed_ids_are_refused(calendar: Any) -> None:
    event_id = "dup" + uuid.uuid4().hex[:12].replace("w", "0").replace("x", "1")
    calendar.events().insert(calendarId="primary", body={"id": event_id, **slot(9)}).execute()
    with pytest.raises(HttpError) as dup:
        calendar.events().insert(calendarId="primary", body={"id": event_id, **slot(10)}).execute()
    assert reason(dup.value) == (409, "duplicate")
    with pytest.raises(HttpError) as bad:
        calendar.events().insert(
            calendarId="primary", body={"id": "Not_Valid", **slot(9)}
        ).execute()
    assert reason(bad.value) == (400, "invalid")


def test_full_sync_pages_then_incremental_sync_sees_changes_made_in_google_calendar(
    calendar: Any, google: GoogleControl, org: dict[str, str]
) -> None:
    ids = [
        calendar.events().insert(calendarId="primary", body=slot(8 + i)).execute()["id"]
        for i in range(5)
    ]
    pages, seen, request = 0, [], calendar.events().list(calendarId="primary", maxResults=2)
    response: dict[str, Any] = {}
    while request is not None:
        response = request.execute()
        pages += 1
        seen += [e["id"] for e in response["items"]]
        assert ("nextPageToken" in response) != ("nextSyncToken" in response)
        request = calendar.events().list_next(request, response)
    assert (pages, seen) == (3, ids)
    sync_token = response["nextSyncToken"]

    # A person edits Google Calendar directly: moves one, deletes one, creates one.
    google.move_event(org["ann"], ids[0], "2030-05-07T10:00:00Z", "2030-05-07T11:00:00Z")
    google.delete_event(org["ann"], ids[1])
    added = google.create_event(org["ann"], {"summary": "Dentist", **slot(15)})

    changes = calendar.events().list(calendarId="primary", syncToken=sync_token).execute()
    by_id = {e["id"]: e for e in changes["items"]}
    assert set(by_id) == {ids[0], ids[1], added["id"]}
    assert by_id[ids[0]]["start"] == {"dateTime": "2030-05-07T10:00:00Z"}
    assert by_id[ids[0]]["sequence"] == 1
    assert by_id[ids[1]]["status"] == "cancelled"
    quiet = calendar.events().list(calendarId="primary", syncToken=changes["nextSyncToken"])
    assert quiet.execute()["items"] == []


def test_invalidated_sync_token_answers_410_full_sync_required(
    calendar: Any, google: GoogleControl, org: dict[str, str]
) -> None:
    token = calendar.events().list(calendarId="primary").execute()["nextSyncToken"]
    google.invalidate_sync_tokens(org["ann"])
    with pytest.raises(HttpError) as gone:
        calendar.events().list(calendarId="primary", syncToken=token).execute()
    assert reason(gone.value) == (410, "fullSyncRequired")
    fresh = calendar.events().list(calendarId="primary").execute()["nextSyncToken"]
    assert calendar.events().list(calendarId="primary", syncToken=fresh).execute()["items"] == []


def test_sync_token_cannot_be_combined_with_a_time_window(calendar: Any) -> None:
    token = calendar.events().list(calendarId="primary").execute()["nextSyncToken"]
    with pytest.raises(HttpError) as bad:
        calendar.events().list(
            calendarId="primary", syncToken=token, timeMin="2030-01-01T00:00:00Z"
        ).execute()
    assert reason(bad.value)[0] == 400


def test_time_window_and_start_time_order(calendar: Any) -> None:
    late = calendar.events().insert(calendarId="primary", body=slot(16)).execute()
    early = calendar.events().insert(calendarId="primary", body=slot(7)).execute()
    calendar.events().insert(
        calendarId="primary",
        body={
            "start": {"dateTime": "2031-01-01T09:00:00Z"},
            "end": {"dateTime": "2031-01-01T10:00:00Z"},
        },
    ).execute()
    items = (
        calendar.events()
        .list(
            calendarId="primary",
            timeMin="2030-05-06T00:00:00Z",
            timeMax="2030-05-07T00:00:00Z",
            singleEvents=True,
            orderBy="startTime",
        )
        .execute()["items"]
    )
    assert [e["id"] for e in items] == [early["id"], late["id"]]


def test_stale_etag_is_refused_with_412_condition_not_met(
    calendar: Any, google: GoogleControl, org: dict[str, str]
) -> None:
    event = (
        calendar.events().insert(calendarId="primary", body={"summary": "A", **slot(9)}).execute()
    )
    google.update_event(org["ann"], event["id"], {"summary": "Changed by Ann"})
    request = calendar.events().patch(
        calendarId="primary", eventId=event["id"], body={"summary": "B"}
    )
    request.headers["If-Match"] = event["etag"]
    with pytest.raises(HttpError) as conflict:
        request.execute()
    assert reason(conflict.value) == (412, "conditionNotMet")
    current = calendar.events().get(calendarId="primary", eventId=event["id"]).execute()
    retry = calendar.events().patch(
        calendarId="primary", eventId=event["id"], body={"summary": "B"}
    )
    retry.headers["If-Match"] = current["etag"]
    assert retry.execute()["summary"] == "B"


def test_deleting_twice_is_410_and_unknown_ids_are_404(calendar: Any) -> None:
    event = calendar.events().insert(calendarId="primary", body=slot(9)).execute()
    calendar.events().delete(calendarId="primary", eventId=event["id"]).execute()
    with pytest.raises(HttpError) as again:
        calendar.events().delete(calendarId="primary", eventId=event["id"]).execute()
    assert reason(again.value) == (410, "deleted")
    with pytest.raises(HttpError) as unknown:
        calendar.events().delete(calendarId="primary", eventId="neverexisted0").execute()
    assert reason(unknown.value) == (404, "notFound")
    assert calendar.events().get(calendarId="primary", eventId=event["id"]).execute()["status"] == (
        "cancelled"
    )


def test_read_only_consent_cannot_write(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    reader = calendar_service(sim, user_credentials(sim, google, org, [CALENDAR_READONLY]))
    reader.events().list(calendarId="primary").execute()
    with pytest.raises(HttpError) as denied:
        reader.events().insert(calendarId="primary", body=slot(9)).execute()
    assert reason(denied.value) == (403, "insufficientPermissions")


def test_other_peoples_calendars_are_not_visible(calendar: Any, org: dict[str, str]) -> None:
    with pytest.raises(HttpError) as hidden:
        calendar.events().list(calendarId=f"bob@{org['domain']}").execute()
    assert reason(hidden.value) == (404, "notFound")


def test_rooms_answer_invitations_by_their_policy(calendar: Any, org: dict[str, str]) -> None:
    domain = org["domain"]
    rooms = [
        {"email": f"lisbon@{domain}"},
        {"email": f"oslo@{domain}"},
        {"email": f"attic@{domain}"},
    ]
    created = calendar.events().insert(calendarId="primary", body={"attendees": rooms, **slot(9)})
    created = created.execute()
    # The insert answer is the organizer's write; rooms answer right after as a separate change.
    assert {a["responseStatus"] for a in created["attendees"]} == {"needsAction"}
    assert all(a["resource"] for a in created["attendees"])
    answered = calendar.events().get(calendarId="primary", eventId=created["id"]).execute()
    status = {a["email"]: a["responseStatus"] for a in answered["attendees"]}
    assert status == {
        f"lisbon@{domain}": "accepted",
        f"oslo@{domain}": "accepted",
        f"attic@{domain}": "needsAction",
    }
    clash = (
        calendar.events()
        .insert(
            calendarId="primary", body={"attendees": [{"email": f"oslo@{domain}"}], **slot(9, 30)}
        )
        .execute()
    )
    clash = calendar.events().get(calendarId="primary", eventId=clash["id"]).execute()
    assert clash["attendees"][0]["responseStatus"] == "declined"


def test_expired_access_token_is_refreshed_by_the_library(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    creds = user_credentials(sim, google, org, [CALENDAR_EVENTS])
    service = calendar_service(sim, creds)
    sim.world.advance(3700)  # the access token is now past its hour on the simulated clock
    try:
        assert service.events().list(calendarId="primary").execute()["kind"] == "calendar#events"
    finally:
        sim.world.advance(-3700)
    assert creds.token is not None


def test_page_size_defaults_to_250_and_is_capped_at_2500() -> None:
    from simulator.google import listing, store
    from simulator.world import World

    world = World()
    for _ in range(2600):
        store.insert_event(world, "ann@example.org", slot(9))
    assert len(listing.list_events(world, "ann@example.org", {})["items"]) == 250
    page = listing.list_events(world, "ann@example.org", {"maxResults": "5000"})
    assert len(page["items"]) == 2500
    assert "nextPageToken" in page


def test_local_times_are_read_in_the_events_time_zone(calendar: Any) -> None:
    body = {
        "start": {"dateTime": "2030-07-01T09:00:00", "timeZone": "Europe/Lisbon"},
        "end": {"dateTime": "2030-07-01T10:00:00", "timeZone": "Europe/Lisbon"},
    }
    created = calendar.events().insert(calendarId="primary", body=body).execute()
    assert created["start"] == body["start"]
    # 09:00 in Lisbon (UTC+1 in July) is 08:00 UTC: inside [07:30, 08:30) UTC.
    window = calendar.events().list(
        calendarId="primary", timeMin="2030-07-01T07:30:00Z", timeMax="2030-07-01T08:30:00Z"
    )
    assert [e["id"] for e in window.execute()["items"]] == [created["id"]]
