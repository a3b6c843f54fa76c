"""Signed delivery of notifications to the host app (Standard Webhooks), to a real local
HTTP receiver, with the in-memory stores."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.clock import ManualClock
from shared.consent.context import ConsentContext
from shared.errors import BadRequest
from shared.notifications.outbox import Notification
from shared.providers.factory import SettingsProviderKit
from shared.secrets.memory_store import MemorySecretStore
from shared.settings import load_settings
from shared.storage.memory_queues import MemoryQueueSender
from shared.storage.memory_tables import MemoryTableStore
from shared.sync import delivery
from shared.sync.context import DELIVERY_QUEUE, SyncContext

ORG = "contoso/emea"  # a slash: keys and secret names must stay valid


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, written from the Standard Webhooks spec (not our code)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}"
    expected = base64.b64encode(hmac.new(key, content.encode(), hashlib.sha256).digest())
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, then 204
    # Run before answering POST number n (0-based): another party acting mid-delivery.
    on_post: dict[int, Callable[[], None]] = field(default_factory=dict)
    cursor: Callable[[], str | None] | None = None  # read at each POST into ``cursors``
    cursors: list[str | None] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            number = len(state.received)
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            if state.cursor is not None:
                state.cursors.append(state.cursor())
            hook = state.on_post.pop(number, None)
            if hook is not None:
                hook()
            self.send_response(state.statuses.pop(0) if state.statuses else 204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/calendar"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sctx(tmp_path: Path) -> SyncContext:
    settings = load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "none")})
    consent = ConsentContext(
        settings=settings,
        tables=MemoryTableStore(),
        secrets=MemorySecretStore(),
        clock=ManualClock(),
        kit=SettingsProviderKit(settings),
    )
    return SyncContext(consent, MemoryQueueSender())


def append(sctx: SyncContext, kind: str, data: dict[str, Any]) -> Notification:
    """Append with the clock moved on: the outbox orders by time (ids within one microsecond
    sort by their random suffix)."""
    clock = sctx.consent.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(milliseconds=1))
    return sctx.consent.outbox.append(ORG, kind, data)


def test_the_signature_verifies_with_an_independent_computation() -> None:
    secret = delivery.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    body = b'{"type":"event_moved"}'
    header = delivery.sign(secret, "msg_1", 1_700_000_000, body)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": header,
    }
    assert verify(secret, headers, body)
    assert not verify(secret, {**headers, "webhook-timestamp": "1700000001"}, body)
    assert not verify(delivery.new_secret(), headers, body)


def test_the_spec_example_signature_is_reproduced() -> None:
    # The example of the Standard Webhooks reference libraries' tests.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = delivery.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_only_https_or_loopback_urls_are_accepted() -> None:
    assert delivery.check_url("https://app.example/hooks")
    assert delivery.check_url("http://127.0.0.1:8080/hooks")
    assert delivery.check_url("http://localhost/hooks")
    for bad in ("http://app.example/hooks", "ftp://app.example/x", "https://", "app.example"):
        with pytest.raises(BadRequest):
            delivery.check_url(bad)


def test_notifications_arrive_in_order_signed_and_once(
    sctx: SyncContext, receiver: Receiver
) -> None:
    settings, secret = delivery.configure(sctx, ORG, receiver.url)
    assert secret is not None and settings.url == receiver.url
    assert delivery.configure(sctx, ORG, receiver.url)[1] is None  # shown once
    sent = [
        append(sctx, "event_moved", {"app_event": "shift-1", "person": "p1"}),
        append(sctx, "event_cancelled", {"app_event": "shift-2", "person": "p1"}),
        append(sctx, "reconnect_needed", {"subject": "p2"}),
    ]
    assert delivery.enqueue_if_pending(sctx, ORG)

    report = delivery.deliver(sctx, ORG)

    assert report.delivered == 3 and not report.failed
    assert [h["webhook-id"] for h, _ in receiver.received] == [n.id for n in sent]
    for (headers, body), notification in zip(receiver.received, sent, strict=True):
        assert verify(secret, headers, body)
        payload = json.loads(body)
        assert payload["type"] == notification.kind
        assert payload["data"]["id"] == notification.id
    # Nothing left: a second pass sends nothing.
    assert delivery.deliver(sctx, ORG).delivered == 0
    assert len(receiver.received) == 3
    assert not delivery.has_pending(sctx, ORG)


def test_a_failing_receiver_is_retried_with_backoff_and_order_is_kept(
    sctx: SyncContext, receiver: Receiver
) -> None:
    queues = sctx.queues
    assert isinstance(queues, MemoryQueueSender)
    _, secret = delivery.configure(sctx, ORG, receiver.url)
    assert secret is not None
    first = append(sctx, "event_moved", {"app_event": "a"})
    second = append(sctx, "event_moved", {"app_event": "b"})
    receiver.statuses = [204, 503]

    report = delivery.deliver(sctx, ORG)

    assert report.delivered == 1 and report.failed and report.retry_in == delivery.BACKOFF[0]
    assert delivery.cursor(sctx.consent.tables, ORG).last_id == first.id
    # The retry is scheduled on the delivery queue; before its time nothing is attempted.
    assert queues.approximate_count(DELIVERY_QUEUE) == 1
    assert delivery.deliver(sctx, ORG).skipped == "waiting"
    assert not delivery.has_pending(sctx, ORG)

    clock = sctx.consent.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(seconds=delivery.BACKOFF[0]))
    receiver.statuses = [500]
    again = delivery.deliver(sctx, ORG)
    assert again.failed and again.retry_in == delivery.BACKOFF[1]

    clock.advance(timedelta(seconds=delivery.BACKOFF[1]))
    assert delivery.deliver(sctx, ORG).delivered == 1
    ids = [h["webhook-id"] for h, _ in receiver.received]
    assert ids == [first.id, second.id, second.id, second.id]
    assert delivery.cursor(sctx.consent.tables, ORG).failures == 0


def test_without_a_url_nothing_is_sent(sctx: SyncContext) -> None:
    sctx.consent.outbox.append(ORG, "event_moved", {"app_event": "a"})
    assert not delivery.enqueue_if_pending(sctx, ORG)
    assert delivery.deliver(sctx, ORG).skipped == "no_url"


def test_a_stalled_deliverer_cannot_move_the_cursor_back_or_resend_what_another_delivered(
    sctx: SyncContext, receiver: Receiver
) -> None:
    """Deliverer A stalls in a POST past its lease; B takes over and delivers everything; A
    wakes up. A must stop: no cursor moved backwards, nothing resent but A's one in-flight
    notification (which a receiver de-duplicates by ``webhook-id``)."""
    clock = sctx.consent.clock
    assert isinstance(clock, ManualClock)
    delivery.configure(sctx, ORG, receiver.url)
    sent = [append(sctx, "event_moved", {"app_event": f"e{n}"}) for n in range(6)]
    cursors: list[str | None] = []
    taken_over: list[delivery.DeliveryReport] = []

    def stall_then_take_over() -> None:
        clock.advance(timedelta(minutes=10))  # A is stuck far beyond any lease
        taken_over.append(delivery.deliver(sctx, ORG))

    receiver.on_post = {2: stall_then_take_over}  # during A's third POST
    receiver.cursor = lambda: delivery.cursor(sctx.consent.tables, ORG).last_id
    receiver.cursors = cursors
    first = delivery.deliver(sctx, ORG)

    assert taken_over[0].delivered == 4  # B: the 3rd (A's in flight) to the 6th
    seen = [c or "" for c in cursors]
    assert seen == sorted(seen), "the delivery cursor moved backwards"
    ids = [h["webhook-id"] for h, _ in receiver.received]
    assert sorted(ids) == sorted([n.id for n in sent] + [sent[2].id])  # one duplicate at most
    assert delivery.cursor(sctx.consent.tables, ORG).last_id == sent[-1].id
    assert delivery.deliver(sctx, ORG).delivered == 0
    assert first.delivered == 2 and first.lost_lease


def test_a_long_pass_renews_its_lease_and_stops_at_its_bound(
    sctx: SyncContext, receiver: Receiver
) -> None:
    """Each POST takes a while: the pass outlives its first lease term without losing the lease
    (no second deliverer gets in), and stops at PASS_LIMIT with a message to continue."""
    clock = sctx.consent.clock
    queues = sctx.queues
    assert isinstance(clock, ManualClock) and isinstance(queues, MemoryQueueSender)
    delivery.configure(sctx, ORG, receiver.url)
    total = delivery.PASS_LIMIT + 5
    for n in range(total):
        sctx.consent.outbox.append(ORG, "event_moved", {"n": n}, dedupe_key=f"f{n}")
    others: list[delivery.DeliveryReport] = []

    def slow_and_contended() -> None:
        clock.advance(timedelta(seconds=20))
        others.append(delivery.deliver(sctx, ORG))

    receiver.on_post = {n: slow_and_contended for n in range(0, 40, 8)}  # 100 s in all
    report = delivery.deliver(sctx, ORG)

    assert [o.skipped for o in others] == ["busy"] * len(others)
    assert report.delivered == delivery.PASS_LIMIT and not report.lost_lease
    continuations = [m.body for m in queues.take(DELIVERY_QUEUE)]
    assert {"org": ORG} in continuations
    assert delivery.deliver(sctx, ORG).delivered == 5
    assert len(receiver.received) == total
