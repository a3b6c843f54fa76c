"""Google push channels (events.watch, channels.stop) against the simulator, with a tiny local
HTTP receiver standing in for our webhook."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.providers.google.calendar import GoogleCalendarClient
from tests.providers.google_support import Org, make_org

pytestmark = pytest.mark.simulator


class Receiver:
    """Records the headers of every POST it receives and answers 200."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                self.rfile.read(length)
                received.append({k: v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/google"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, channel_id: str, state: str, timeout: float = 10.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.messages):
                if (
                    message.get("X-Goog-Channel-ID") == channel_id
                    and message.get("X-Goog-Resource-State") == state
                ):
                    return message
            time.sleep(0.02)
        raise TimeoutError(f"no {state} message for channel {channel_id}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def org(simulator: Any) -> Iterator[Org]:
    yield from make_org(simulator)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def ann(org: Org) -> Iterator[GoogleCalendarClient]:
    with org.calendar(org.ann) as client:
        yield client


def sim_now(org: Org) -> datetime:
    return datetime.fromisoformat(str(org.sim.clock()["now"]).replace("Z", "+00:00"))


def test_watch_opens_a_channel_that_sends_sync_then_exists_with_our_token(
    org: Org, ann: GoogleCalendarClient, receiver: Receiver
) -> None:
    sub = ann.subscribe(
        notification_url=receiver.url,
        client_state="secret-channel-token",
        expires_at=datetime.now(UTC) + timedelta(hours=6),
        channel_id="chan-" + org.domain.split(".")[0],
    )
    assert sub.id == "chan-" + org.domain.split(".")[0]
    assert sub.resource_id
    assert abs((sub.expires_at - sim_now(org)) - timedelta(hours=6)) < timedelta(minutes=1)
    assert "secret-channel-token" not in repr(sub)

    sync = receiver.wait_for(sub.id, "sync")
    assert sync["X-Goog-Channel-Token"] == "secret-channel-token"
    assert sync["X-Goog-Resource-ID"] == sub.resource_id

    org.google.create_event(
        org.ann,
        {
            "summary": "Made in Google Calendar",
            "start": {"dateTime": "2030-01-01T10:00:00Z"},
            "end": {"dateTime": "2030-01-01T11:00:00Z"},
        },
    )
    assert receiver.wait_for(sub.id, "exists")["X-Goog-Channel-Token"] == "secret-channel-token"

    ann.unsubscribe(sub)
    assert [c for c in org.google.channels() if c["id"] == sub.id] == []
    ann.unsubscribe(sub)  # already stopped: done


def test_renewing_a_channel_opens_a_new_one_and_stops_the_old(
    org: Org, ann: GoogleCalendarClient, receiver: Receiver
) -> None:
    old = ann.subscribe(
        notification_url=receiver.url,
        client_state="token-1",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    new = ann.renew(old, datetime.now(UTC) + timedelta(days=2))
    assert new.id != old.id
    assert new.resource_id == old.resource_id
    assert new.expires_at > old.expires_at + timedelta(hours=40)
    live = {c["id"] for c in org.google.channels()}
    assert new.id in live and old.id not in live
    assert receiver.wait_for(new.id, "sync")["X-Goog-Channel-Token"] == "token-1"
    ann.unsubscribe(new)
