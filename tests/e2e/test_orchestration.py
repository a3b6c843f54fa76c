"""End-to-end: the 5-minute cycle, on-demand sync, the health view, a worker killed mid-sync,
and signed delivery of notifications to the host app's URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.http.flows import sync_context
from shared.storage.memory_queues import MemoryQueueSender
from shared.sync import batches, requests
from shared.sync.context import SYNC_QUEUE, SyncContext
from shared.sync.cycle import run_cycle
from shared.sync.leases import Leases
from shared.sync.worker import SyncMessage, sync_calendar
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import (
    ADMIN,
    connect_microsoft,
    microsoft_workspace,
    new_person_id,
)
from tests.e2e.tenants import put_secret_meeting_in_outlook
from tests.e2e.test_webhooks import (
    Calendar,
    assert_runs_grew_by,
    busy_ids,
    cycles,
    graph_subscription,
    microsoft_calendar,
    runs,
    sync_now,
)


def test_the_cycle_enqueues_every_calendar_and_never_calls_a_provider(
    stack: Stack, org: str
) -> None:
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    stack.host.wait_until_idle()
    app = sync_context(stack.services)
    # The same cycle over another implementation of the queue interface, to see its messages.
    queues = MemoryQueueSender()
    before = stack.sim.stats()

    report = run_cycle(SyncContext(app.consent, queues), stack.clock.now())

    assert stack.sim.stats() == before
    bodies = [m.body for m in queues.take(SYNC_QUEUE)]
    assert sum(len(b["calendars"]) for b in bodies) == report.calendars
    assert [b["calendars"] for b in bodies if b["org"] == org] == [[cal.key]]
    assert report.calendars >= 1 and org in report.orgs
    # Those messages go nowhere: their calendars must not stay pending for the next cycle.
    for body in bodies:
        batches.done(app.consent.tables, body["org"], body["batch"])

    # The real timer function: its messages reach the worker, which syncs the calendar.
    ran = runs(stack, cal)
    stack.host.invoke("sync_cycle")
    stack.host.wait_until_idle(timeout=60)
    assert runs(stack, cal) >= ran + 1
    last = cycles(stack)
    assert last is not None and last[0] == stack.clock.now()


def test_on_demand_sync_and_the_health_view(stack: Stack, org: str) -> None:
    cal = microsoft_calendar(stack, org)
    path = f"orgs/{org}/integrations/{cal.integration}/health"
    fresh = stack.call("GET", path, org=org, sub="ada", roles=ADMIN).json()
    assert fresh["calendars"] == 1
    # Connecting ran the calendar's first sync already (subscription included).
    assert fresh["subscriptions_missing"] == 0 and fresh["calendars_behind"] == []

    sync_now(stack, cal)

    view = stack.call("GET", path, org=org, sub="ada", roles=ADMIN)
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["subscriptions_healthy"] == 1 and body["subscriptions_missing"] == 0
    assert body["calendars_behind"] == [] and body["failures_by_kind"] == {}
    assert isinstance(body["poison_messages"], int)
    # Two cycles later without a successful sync, the calendar is behind.
    stack.clock.advance(timedelta(minutes=11))
    later = stack.call("GET", path, org=org, sub="ada", roles=ADMIN).json()
    assert later["calendars_behind"] == [cal.person]
    # Only admins of the organisation see it.
    denied = stack.call("GET", path, org=org, sub="bob")
    assert denied.status_code == 403


def test_a_lease_left_by_a_killed_worker_expires_and_the_next_cycle_converges(
    stack: Stack, org: str
) -> None:
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    sub = graph_subscription(stack, cal)
    # A worker took the lease and died mid-sync.
    leases = Leases(stack.services.tables, stack.clock)
    assert leases.acquire(cal.key, "killed-worker") is not None
    before = runs(stack, cal)

    event = put_secret_meeting_in_outlook(stack, cal.email)
    stack.sim.graph.wait_for_deliveries(
        lambda log: any(d.get("outcome") == "delivered" for d in log),
        subscription_id=sub.id,
        kind="change",
    )
    # The notification's run meets the lease and waits for a holder that will never hand over.
    wait_for_waiting_run(stack, cal)
    stack.host.wait_until_idle(timeout=60)
    assert event["id"] not in busy_ids(stack, cal) and runs(stack, cal) == before
    # The dead worker's lease runs out (the host's 10-minute message visibility); the next
    # 5-minute cycle syncs the calendar.
    stack.clock.advance(timedelta(minutes=10, seconds=1))
    stack.host.invoke("sync_cycle")
    stack.host.wait_until_idle(timeout=60)

    assert event["id"] in busy_ids(stack, cal)
    assert runs(stack, cal) == before + 1
    assert leases.holder(cal.key) is None


def test_a_run_that_meets_the_lease_is_handed_over_by_the_holder_and_runs_once(
    stack: Stack, org: str
) -> None:
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    sctx = sync_context(stack.services)
    leases = Leases(stack.services.tables, stack.clock)
    before, cycle = runs(stack, cal), cycles(stack)
    # Worker A syncs the calendar slowly (every Graph request takes 2 s).
    stack.sim.add_fault_rule(area="graph", latency_ms=2000)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(sync_calendar, sctx, SyncMessage(org, cal.key), holder="worker-a")
            while leases.holder(cal.key) is None:
                assert not first.done(), first.result()
                time.sleep(0.02)
            # Worker B's run meets A's lease: it neither syncs nor polls, it waits for A.
            waiting = sync_calendar(sctx, SyncMessage(org, cal.key, "renew"), holder="worker-b")
            assert not first.done(), "worker A finished before B met its lease"
            assert waiting.status == "busy" and waiting.delay_seconds == 0
            assert requests.waiting(stack.services.tables, cal.key) == (True, "renew")
            assert first.result().status == "synced"
    finally:
        stack.sim.clear_faults()
    # A handed over when it released the lease: B's run (with its renewal) runs once.
    stack.host.wait_until_idle(timeout=60)

    assert_runs_grew_by(stack, cal, before, cycle, 2)
    assert requests.waiting(stack.services.tables, cal.key) == (False, None)
    assert requests.pending(stack.services.tables, cal.key) is None
    assert leases.holder(cal.key) is None


def wait_for_waiting_run(stack: Stack, cal: Calendar) -> None:
    """The notification's message reaches the worker (2 s coalescing delay, then the queue
    poll), which meets the lease and leaves a waiting request for its holder."""
    deadline = time.monotonic() + 30
    while not requests.waiting(stack.services.tables, cal.key)[0]:
        assert time.monotonic() < deadline, "no run met the lease"
        time.sleep(0.1)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/calendar-events", received
    finally:
        server.shutdown()
        server.server_close()


def test_notifications_are_delivered_signed_to_the_configured_url(
    stack: Stack, org: str, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    path = f"orgs/{org}/notification-settings"
    refused = stack.call(
        "PUT", path, org=org, sub="ada", roles=ADMIN, json={"url": "http://x.example/h"}
    )
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_webhook_url"
    put = stack.call("PUT", path, org=org, sub="ada", roles=ADMIN, json={"url": url})
    assert put.status_code == 200, put.text
    secret = put.json()["signing_secret"]
    assert secret.startswith("whsec_")
    again = stack.call("PUT", path, org=org, sub="ada", roles=ADMIN, json={"url": url}).json()
    assert "signing_secret" not in again
    shown = stack.call("GET", path, org=org, sub="ada", roles=ADMIN).json()
    assert shown["url"] == url and "signing_secret" not in shown

    outbox = sync_context(stack.services).consent.outbox
    notification = outbox.append(org, "sync_failing", {"calendar": "x", "error": "denied"})
    stack.host.invoke("sync_cycle")  # the cycle enqueues a delivery pass for the org
    stack.host.wait_until_idle(timeout=60)

    ((headers, body),) = [r for r in received if r[0]["webhook-id"] == notification.id]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers["webhook-signature"], expected)
    assert json.loads(body)["type"] == "sync_failing"


def test_the_admin_sees_which_people_are_synced(stack: Stack, org: str) -> None:
    workspace = microsoft_workspace(stack, org)
    person, email = new_person_id(), workspace.tenant.users[0]
    connect_microsoft(stack, org, person, email)
    listed = stack.call(
        "GET",
        f"orgs/{org}/integrations/{workspace.integration}/people",
        org=org,
        sub="ada",
        roles=("admin",),
    ).json()["items"]
    # Connecting ran the first sync at once.
    assert [(p["person"], p["account"], p["status"]) for p in listed] == [
        (person, email, "connected")
    ]
    assert listed[0].get("last_sync") is not None
    stack.call(
        "POST",
        f"orgs/{org}/integrations/{workspace.integration}/sync",
        org=org,
        sub="ada",
        roles=("admin",),
    )
    stack.host.wait_until_idle()
    (synced,) = stack.call(
        "GET",
        f"orgs/{org}/integrations/{workspace.integration}/people",
        org=org,
        sub="ada",
        roles=("admin",),
    ).json()["items"]
    assert synced.get("last_sync") is not None
    refused = stack.call(
        "GET", f"orgs/{org}/integrations/{workspace.integration}/people", org=org, sub="bob"
    )
    assert refused.status_code == 403
