"""Push notification channels: events.watch through google-api-python-client, delivery to a
local receiver, message order and numbering, stop, expiry on the simulated clock, retries."""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google_auth_httplib2
import httplib2
import httpx
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from simulator.google.client import GoogleControl
from simulator.server import SimulatorServer

CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
REDIRECT = "https://app.example/api/oauth/google/callback"


@dataclass
class Receiver:
    """A webhook endpoint recording what Google (the simulator) posts to it."""

    url: str
    received: list[dict[str, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            self.rfile.read(length)
            status = box.fail_next.pop(0) if box.fail_next else 200
            if status == 200:
                box.received.append({k: v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/api/webhooks/google"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def google(simulator: SimulatorServer) -> Iterator[GoogleControl]:
    context = ssl.create_default_context(cafile=str(simulator.certs.ca))
    with httpx.Client(base_url=simulator.base_url, verify=context) as http:
        yield GoogleControl(http)


@pytest.fixture
def ann(google: GoogleControl, simulator: SimulatorServer) -> Iterator[tuple[str, Any]]:
    """Ann's address and a Calendar client acting for her."""
    domain = f"org{uuid.uuid4().hex[:8]}.example"
    google.add_domain(domain)
    google.add_user(f"ann@{domain}")
    google.add_room(f"lisbon@{domain}", "Lisbon", policy="accept")
    client = google.add_client("Scheduler", [REDIRECT])
    token = google.consent_tokens(client, f"ann@{domain}", [CALENDAR_EVENTS])
    http = google_auth_httplib2.AuthorizedHttp(
        Credentials(token["access_token"]),
        http=httplib2.Http(ca_certs=str(simulator.certs.ca)),
    )
    service = build(
        "calendar",
        "v3",
        http=http,
        static_discovery=True,
        client_options={"api_endpoint": f"{simulator.base_url}/google/calendar/v3/"},
    )
    try:
        yield f"ann@{domain}", service
    finally:
        service.close()


def watch(service: Any, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    body = {
        "id": str(uuid.uuid4()),
        "type": "web_hook",
        "address": receiver.url,
        "token": "tenant=t1&calendar=c9",
        **extra,
    }
    return dict(service.events().watch(calendarId="primary", body=body).execute())


def states(received: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(h["X-Goog-Resource-State"], h["X-Goog-Message-Number"]) for h in received]


def test_channel_gets_sync_then_exists_for_every_change(
    google: GoogleControl, ann: tuple[str, Any], receiver: Receiver, simulator: SimulatorServer
) -> None:
    email, service = ann
    channel = watch(service, receiver, params={"ttl": "3600"})
    assert channel["kind"] == "api#channel"
    assert channel["resourceUri"].startswith(f"{simulator.base_url}/google/calendar/v3/")
    assert int(channel["expiration"]) > 0
    google.wait_for_deliveries(1, channel["id"])

    event = service.events().insert(calendarId="primary", body=_slot(9)).execute()
    google.move_event(email, event["id"], "2030-05-06T11:00:00Z", "2030-05-06T12:00:00Z")
    google.delete_event(email, event["id"])
    google.wait_for_deliveries(4, channel["id"])

    assert states(receiver.received) == [
        ("sync", "1"),
        ("exists", "2"),
        ("exists", "3"),
        ("exists", "4"),
    ]
    first = receiver.received[0]
    assert first["X-Goog-Channel-ID"] == channel["id"]
    assert first["X-Goog-Channel-Token"] == "tenant=t1&calendar=c9"
    assert first["X-Goog-Resource-ID"] == channel["resourceId"]
    assert first["X-Goog-Resource-URI"] == channel["resourceUri"]
    assert first["X-Goog-Channel-Expiration"].endswith(" GMT")


def test_room_answer_is_a_change_of_its_own(
    google: GoogleControl, ann: tuple[str, Any], receiver: Receiver
) -> None:
    email, service = ann
    channel = watch(service, receiver)
    room = "lisbon@" + email.split("@")[1]
    service.events().insert(
        calendarId="primary", body={"attendees": [{"email": room}], **_slot(9)}
    ).execute()
    google.wait_for_deliveries(3, channel["id"])
    assert [s for s, _ in states(receiver.received)] == ["sync", "exists", "exists"]


def test_stopped_channel_gets_nothing_more(
    google: GoogleControl, ann: tuple[str, Any], receiver: Receiver
) -> None:
    email, service = ann
    channel = watch(service, receiver)
    service.channels().stop(
        body={"id": channel["id"], "resourceId": channel["resourceId"]}
    ).execute()
    google.create_event(email, _slot(10))
    google.wait_for_deliveries(1, channel["id"])
    assert states(receiver.received) == [("sync", "1")]
    assert channel["id"] not in {c["id"] for c in google.channels()}


def test_channel_expires_on_the_simulated_clock(
    google: GoogleControl, ann: tuple[str, Any], receiver: Receiver, simulator: SimulatorServer
) -> None:
    email, service = ann
    channel = watch(service, receiver, params={"ttl": "60"})
    google.wait_for_deliveries(1, channel["id"])
    simulator.world.advance(120)
    try:
        google.create_event(email, _slot(10))
        google.wait_for_deliveries(1, channel["id"])
    finally:
        simulator.world.advance(-120)
    assert states(receiver.received) == [("sync", "1")]
    assert channel["id"] not in {c["id"] for c in google.channels()}


def test_deleted_calendar_sends_not_exists(
    google: GoogleControl, ann: tuple[str, Any], receiver: Receiver
) -> None:
    email, service = ann
    channel = watch(service, receiver)
    google.delete_calendar(email)
    google.wait_for_deliveries(2, channel["id"])
    assert states(receiver.received) == [("sync", "1"), ("not_exists", "2")]


def test_failing_receiver_is_retried(
    google: GoogleControl, ann: tuple[str, Any], receiver: Receiver
) -> None:
    _, service = ann
    receiver.fail_next = [503]
    channel = watch(service, receiver)
    deliveries = google.wait_for_deliveries(1, channel["id"])
    assert deliveries[0]["attempts"] == 2
    assert deliveries[0]["status"] == 200
    assert states(receiver.received) == [("sync", "1")]


def _slot(hour: int) -> dict[str, Any]:
    return {
        "start": {"dateTime": f"2030-05-06T{hour:02d}:00:00Z"},
        "end": {"dateTime": f"2030-05-06T{hour + 1:02d}:00:00Z"},
    }
