"""The simulator's Google answers match the documented payloads in payloads/google/, field by field.

Each payload file names the public Google page it comes from (``source``).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from simulator.google import errors
from simulator.google.client import GoogleControl, GoogleSignInBlocked
from simulator.server import SimulatorServer

PAYLOADS = Path(__file__).parent / "payloads" / "google"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
CALENDAR_READONLY = "https://www.googleapis.com/auth/calendar.readonly"
ROOMS_READONLY = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
REDIRECT = "https://app.example/api/oauth/google/callback"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    assert data["source"].startswith(("https://", "Calendar API", "Admin SDK"))
    return data


@pytest.fixture
def http(simulator: SimulatorServer) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(simulator.certs.ca))
    with httpx.Client(base_url=simulator.base_url, verify=context) as client:
        yield client


@pytest.fixture
def google(http: httpx.Client) -> GoogleControl:
    return GoogleControl(http)


@pytest.fixture
def org(google: GoogleControl) -> dict[str, Any]:
    domain = f"org{uuid.uuid4().hex[:8]}.example"
    google.add_domain(domain, name="Fabrikam")
    google.add_user(f"ann@{domain}")
    client = google.add_client("Scheduler", [REDIRECT])
    token = google.consent_tokens(client, f"ann@{domain}", [CALENDAR_EVENTS])
    return {
        "domain": domain,
        "ann": f"ann@{domain}",
        "client": client,
        "token": token,
        "auth": {"Authorization": f"Bearer {token['access_token']}"},
    }


EVENTS = "/google/calendar/v3/calendars/primary/events"
SLOT = {"start": {"dateTime": "2030-05-06T09:00:00Z"}, "end": {"dateTime": "2030-05-06T10:00:00Z"}}


def check(response: httpx.Response, name: str) -> None:
    expected = payload(name)
    assert response.status_code == expected["status"]
    assert response.json() == expected["body"]


def test_invalidated_sync_token_body(
    http: httpx.Client, google: GoogleControl, org: dict[str, Any]
) -> None:
    sync = http.get(EVENTS, headers=org["auth"]).json()["nextSyncToken"]
    google.invalidate_sync_tokens(org["ann"])
    gone = http.get(EVENTS, params={"syncToken": sync}, headers=org["auth"])
    check(gone, "error_410_full_sync_required.json")


def test_rate_limit_bodies_for_the_fault_layer() -> None:
    assert errors.rate_limit_exceeded(403) == payload("error_403_rate_limit_exceeded.json")["body"]
    assert errors.rate_limit_exceeded(429) == payload("error_429_rate_limit_exceeded.json")["body"]


def test_event_error_bodies(http: httpx.Client, org: dict[str, Any]) -> None:
    event_id = "p" + uuid.uuid4().hex[:12].replace("w", "0").replace("x", "1").replace("y", "2")
    created = http.post(EVENTS, json={"id": event_id, **SLOT}, headers=org["auth"]).json()
    check(
        http.post(EVENTS, json={"id": event_id, **SLOT}, headers=org["auth"]),
        "error_409_duplicate.json",
    )
    http.patch(f"{EVENTS}/{event_id}", json={"summary": "x"}, headers=org["auth"])
    stale = org["auth"] | {"If-Match": created["etag"]}
    check(
        http.patch(f"{EVENTS}/{event_id}", json={"summary": "y"}, headers=stale),
        "error_412_condition_not_met.json",
    )
    assert http.delete(f"{EVENTS}/{event_id}", headers=org["auth"]).status_code == 204
    check(http.delete(f"{EVENTS}/{event_id}", headers=org["auth"]), "error_410_deleted.json")
    check(http.get(f"{EVENTS}/nosuchevent1", headers=org["auth"]), "error_404_not_found.json")
    check(
        http.get(EVENTS, headers={"Authorization": "Bearer not-a-token"}),
        "error_401_invalid_credentials.json",
    )


def test_scope_and_admin_error_bodies(
    http: httpx.Client, google: GoogleControl, org: dict[str, Any]
) -> None:
    reader = google.consent_tokens(org["client"], org["ann"], [CALENDAR_READONLY, ROOMS_READONLY])
    auth = {"Authorization": f"Bearer {reader['access_token']}"}
    check(http.post(EVENTS, json=SLOT, headers=auth), "error_403_insufficient_permissions.json")
    rooms = "/google/admin/directory/v1/customer/my_customer/resources/calendars"
    check(http.get(rooms, headers=auth), "error_403_admin_not_authorized.json")


def test_events_list_page_fields(http: httpx.Client, org: dict[str, Any]) -> None:
    doc = payload("events_list_page.json")
    http.post(EVENTS, json={"summary": "Kept", **SLOT}, headers=org["auth"])
    gone = http.post(EVENTS, json={"summary": "Gone", **SLOT}, headers=org["auth"]).json()
    first = http.get(EVENTS, params={"maxResults": 1}, headers=org["auth"]).json()
    assert set(doc["collection_fields"]) <= set(first)
    assert "nextPageToken" in first
    assert "nextSyncToken" not in first
    assert set(doc["event_fields"]) <= set(first["items"][0])
    rest = http.get(
        EVENTS, params={"maxResults": 1, "pageToken": first["nextPageToken"]}, headers=org["auth"]
    ).json()
    assert "nextSyncToken" in rest
    assert "nextPageToken" not in rest
    http.delete(f"{EVENTS}/{gone['id']}", headers=org["auth"])
    changes = http.get(EVENTS, params={"syncToken": rest["nextSyncToken"]}, headers=org["auth"])
    cancelled = changes.json()["items"]
    assert [e["status"] for e in cancelled] == ["cancelled"]
    assert set(doc["cancelled_event_fields"]) <= set(cancelled[0])


def test_channel_resource_and_push_headers(http: httpx.Client, org: dict[str, Any]) -> None:
    received: list[dict[str, str]] = []
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(dict(self.headers.items()))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()
            done.set()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        body = {
            "id": str(uuid.uuid4()),
            "type": "web_hook",
            "address": f"http://127.0.0.1:{server.server_address[1]}/hook",
            "token": "t=1",
        }
        channel = http.post(f"{EVENTS}/watch", json=body, headers=org["auth"]).json()
        assert done.wait(10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    resource_doc = payload("channel_resource.json")["example"]
    assert set(channel) == set(resource_doc)
    assert channel["kind"] == "api#channel"
    assert all(isinstance(v, str) for v in channel.values())

    headers_doc = payload("push_notification_headers.json")["example"]
    sent = received[0]
    goog = {k for k in sent if k.lower().startswith("x-goog-")}
    assert {k.lower() for k in goog} == {k.lower() for k in headers_doc if k.startswith("X-Goog-")}
    assert sent["Content-Type"] == headers_doc["Content-Type"]
    assert sent["Content-Length"] == "0"
    assert sent["X-Goog-Resource-State"] == "sync"
    assert sent["X-Goog-Message-Number"] == "1"
    assert re.fullmatch(
        r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", sent["X-Goog-Channel-Expiration"]
    )


def test_token_error_bodies(http: httpx.Client, google: GoogleControl, org: dict[str, Any]) -> None:
    doc = payload("token_errors.json")
    client, token_uri = org["client"], org["client"]["token_uri"]
    form = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    http.post("/google/revoke", data={"token": org["token"]["refresh_token"]})
    revoked = http.post(
        token_uri,
        data=form | {"grant_type": "refresh_token", "refresh_token": org["token"]["refresh_token"]},
    )
    assert (revoked.status_code, revoked.json()) == (
        doc["refresh_revoked"]["status"],
        doc["refresh_revoked"]["body"],
    )
    wrong = http.post(
        token_uri,
        data=form | {"client_secret": "nope", "grant_type": "refresh_token", "refresh_token": "x"},
    )
    assert (wrong.status_code, wrong.json()) == (
        doc["bad_client_secret"]["status"],
        doc["bad_client_secret"]["body"],
    )
    reused = http.post(
        token_uri,
        data=form
        | {"grant_type": "authorization_code", "code": "4/0Aunknown", "redirect_uri": REDIRECT},
    )
    assert (reused.status_code, reused.json()) == (
        doc["code_reused"]["status"],
        doc["code_reused"]["body"],
    )


def test_authorization_error_answers(google: GoogleControl, org: dict[str, Any]) -> None:
    doc = payload("authorization_errors.json")
    client = org["client"]
    url = (
        f"{client['auth_uri']}?client_id={client['client_id']}&redirect_uri={REDIRECT}"
        f"&response_type=code&scope={CALENDAR_EVENTS}&state=s1"
    )
    google.set_app_trust(org["domain"], client["client_id"], "blocked")
    blocked = parse_qs(urlsplit(google.sign_in(url, org["ann"])).query)
    expected = doc["admin_policy_enforced_redirect"]
    assert {k: v[0] for k, v in blocked.items()} == expected | {"state": "s1"}
    google.set_policy(org["domain"], block_response="page")
    with pytest.raises(GoogleSignInBlocked) as page:
        google.sign_in(url, org["ann"])
    assert page.value.status == doc["admin_policy_enforced_page"]["status"]
    assert "Fabrikam has not granted access to this app" in page.value.page
    google.set_policy(
        org["domain"],
        app_trust={client["client_id"]: "trusted"},
        block_response="redirect",
        context_aware_block=True,
    )
    caa = parse_qs(urlsplit(google.sign_in(url, org["ann"])).query)
    assert {k: v[0] for k, v in caa.items()} == doc["context_aware_access"]["redirect"] | {
        "state": "s1"
    }
    google.set_policy(org["domain"], context_aware_block=False)
    cancelled = parse_qs(urlsplit(google.sign_in(url, org["ann"], accept=False)).query)
    assert {k: v[0] for k, v in cancelled.items()} == doc["user_cancelled_redirect"] | {
        "state": "s1"
    }


USERS = "/google/admin/directory/v1/users"
USER_READONLY = "https://www.googleapis.com/auth/admin.directory.user.readonly"


def test_directory_users_page_and_user_not_found(
    http: httpx.Client, google: GoogleControl, org: dict[str, Any]
) -> None:
    doc = payload("users_list_page.json")
    admin = f"admin@{org['domain']}"
    google.add_user(admin, name="Ada Admin", is_admin=True)
    google.add_user(f"bo@{org['domain']}", aliases=[f"b.o@{org['domain']}"], suspended=True)
    token = google.consent_tokens(org["client"], admin, [USER_READONLY])
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    first = http.get(USERS, params={"customer": "my_customer", "maxResults": 2}, headers=auth)
    assert first.status_code == 200
    body = first.json()
    assert body["kind"] == doc["collection_kind"]
    assert set(body) == set(doc["collection_fields"])  # three users: a next page exists
    allowed = set(doc["user_fields"]) | set(doc["optional_user_fields"])
    for user in body["users"]:
        assert user["kind"] == doc["user_kind"]
        assert set(doc["user_fields"]) <= set(user) <= allowed
        assert set(user["name"]) == set(doc["name_fields"])
    last = http.get(
        USERS,
        params={"customer": "my_customer", "maxResults": 2, "pageToken": body["nextPageToken"]},
        headers=auth,
    ).json()
    assert "nextPageToken" not in last
    bo = http.get(f"{USERS}/b.o@{org['domain']}", headers=auth).json()
    assert (bo["primaryEmail"], bo["aliases"], bo["suspended"], bo["suspensionReason"]) == (
        f"bo@{org['domain']}",
        [f"b.o@{org['domain']}"],
        True,
        "ADMIN",
    )
    missing = http.get(f"{USERS}/nobody@{org['domain']}", headers=auth)
    check(missing, "error_404_user_not_found.json")


def test_service_account_token_error_bodies(
    http: httpx.Client, google: GoogleControl, org: dict[str, Any]
) -> None:
    doc = payload("service_account_token_errors.json")
    key = google.add_service_account("payloads-" + org["domain"].split(".")[0])
    google.grant_delegation(org["domain"], key["client_id"], [CALENDAR_EVENTS])
    google.add_user(f"gone@{org['domain']}")
    google.delete_user(f"gone@{org['domain']}")

    def token(sub: str, scope: str) -> httpx.Response:
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": key["client_email"],
                "sub": sub,
                "scope": scope,
                "aud": "https://oauth2.googleapis.com/token",
                "iat": now,
                "exp": now + 3600,
            },
            key["private_key"],
            algorithm="RS256",
            headers={"kid": key["private_key_id"]},
        )
        return http.post(
            key["token_uri"], data={"grant_type": doc["grant_type"], "assertion": assertion}
        )

    cases = [
        (org["ann"], CALENDAR_READONLY, "scope_not_delegated"),
        (f"nobody@{org['domain']}", CALENDAR_EVENTS, "no_such_user"),
        (f"gone@{org['domain']}", CALENDAR_EVENTS, "account_deleted"),
    ]
    for sub, scope, name in cases:
        answer = token(sub, scope)
        assert (answer.status_code, answer.json()) == (doc[name]["status"], doc[name]["body"])
    granted = token(org["ann"], CALENDAR_EVENTS)
    assert granted.status_code == doc["granted"]["status"]
    assert set(granted.json()) == set(doc["granted"]["fields"])
    google.delete_service_account_key(key["client_email"], key["private_key_id"])
    deleted = token(org["ann"], CALENDAR_EVENTS)
    assert (deleted.status_code, deleted.json()) == (
        doc["key_deleted"]["status"],
        doc["key_deleted"]["body"],
    )


def test_recurring_event_and_its_instances(http: httpx.Client, org: dict[str, Any]) -> None:
    doc = payload("recurring_event.json")
    created = http.post(EVENTS, json=doc["request"], headers=org["auth"])
    assert created.status_code == 200, created.text
    master = created.json()
    assert set(doc["recurring_event_fields"]) <= set(master)
    assert master["recurrence"] == doc["request"]["recurrence"]
    window = {"timeMin": "2011-06-01T00:00:00Z", "timeMax": "2011-08-01T00:00:00Z"}
    listed = http.get(f"{EVENTS}/{master['id']}/instances", params=window, headers=org["auth"])
    items = listed.json()["items"]
    assert [i["start"]["dateTime"][:10] for i in items] == doc["instance_starts"]
    for item in items:
        assert set(doc["instance_fields"]) <= set(item)
        assert item["recurringEventId"] == master["id"]
        assert "recurrence" not in item
    # 10:00 in Los Angeles (PDT) is 17:00 UTC: the instance id names the original start in UTC.
    assert items[0]["id"] == f"{master['id']}_20110603T170000Z"
    assert items[0]["originalStartTime"]["timeZone"] == "America/Los_Angeles"
    same = http.get(EVENTS, params={**window, "singleEvents": "true"}, headers=org["auth"])
    assert [i["id"] for i in same.json()["items"]] == [i["id"] for i in items]
    assert http.delete(f"{EVENTS}/{items[1]['id']}", headers=org["auth"]).status_code == 204
    gone = http.get(f"{EVENTS}/{items[1]['id']}", headers=org["auth"]).json()
    assert gone["status"] == "cancelled"
    assert set(doc["cancelled_instance_fields"]) <= set(gone)
