"""End-to-end: change notifications from the simulated Graph and Google reach the sync worker.

The local host runs the real webhook routes and the real ``sync_worker`` queue trigger against
Azurite; the simulator delivers notifications to the host over loopback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.http.flows import sync_context
from shared.storage.keys import encode_key
from shared.sync import health, subscriptions
from shared.sync.busy import BUSY
from shared.sync.requests import pending
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import (
    ADMIN,
    connect_google,
    connect_microsoft,
    google_workspace,
    microsoft_workspace,
    new_person_id,
)
from tests.e2e.tenants import put_secret_meeting_in_google, put_secret_meeting_in_outlook


@dataclass
class Calendar:
    org: str
    integration: str
    person: str
    email: str

    @property
    def key(self) -> str:
        return f"{self.integration}:{encode_key(self.person)}"


def microsoft_calendar(stack: Stack, org: str) -> Calendar:
    workspace = microsoft_workspace(stack, org)
    person, email = new_person_id(), workspace.tenant.users[0]
    connect_microsoft(stack, org, person, email)
    return Calendar(org, workspace.integration, person, email)


def google_calendar(stack: Stack, org: str) -> Calendar:
    workspace = google_workspace(stack, org)
    person, email = new_person_id(), workspace.domain.users[0]
    connect_google(stack, org, person, email)
    return Calendar(org, workspace.integration, person, email)


def sync_now(stack: Stack, cal: Calendar) -> None:
    """The admin's on-demand sync, then wait for the worker."""
    response = stack.call(
        "POST",
        f"orgs/{cal.org}/integrations/{cal.integration}/sync",
        org=cal.org,
        sub="ada",
        roles=ADMIN,
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"enqueued": 1}
    stack.host.wait_until_idle()


def runs(stack: Stack, cal: Calendar) -> int:
    status = health.status(stack.services.tables, cal.org, cal.key)
    return status.runs if status else 0


def cycles(stack: Stack) -> Any:
    return health.last_cycle(stack.services.tables)


def assert_runs_grew_by(stack: Stack, cal: Calendar, before: int, cycle: Any, n: int) -> None:
    """Worker runs grew by exactly ``n`` (one more if the 5-minute timer fired meanwhile)."""
    grown = runs(stack, cal) - before
    timer_fired = cycles(stack) != cycle
    assert grown == n or (timer_fired and grown == n + 1), (grown, timer_fired)


def busy_ids(stack: Stack, cal: Calendar) -> set[str]:
    return {e.row_key for e in stack.services.tables.query(BUSY, cal.key)}


def graph_subscription(stack: Stack, cal: Calendar) -> subscriptions.StoredSubscription:
    sub = subscriptions.current(stack.services.tables, cal.key)
    assert sub is not None, "the worker should have created the subscription"
    return sub


def current(stack: Stack, cal: Calendar) -> subscriptions.StoredSubscription | None:
    return subscriptions.current(stack.services.tables, cal.key)


def wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_a_graph_notification_for_an_outlook_change_leads_to_a_sync(stack: Stack, org: str) -> None:
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    sub = graph_subscription(stack, cal)
    assert sub.provider == "microsoft" and sub.resource.endswith("/events")
    assert any(s["id"] == sub.id for s in stack.sim.graph.subscriptions())
    before, cycle = runs(stack, cal), cycles(stack)

    event = put_secret_meeting_in_outlook(stack, cal.email)
    stack.sim.graph.wait_for_deliveries(
        lambda log: any(d.get("outcome") == "delivered" for d in log),
        subscription_id=sub.id,
        kind="change",
    )
    stack.host.wait_until_idle()

    assert_runs_grew_by(stack, cal, before, cycle, 1)
    assert event["id"] in busy_ids(stack, cal)


def test_duplicate_graph_notifications_cause_one_sync(stack: Stack, org: str) -> None:
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    sub = graph_subscription(stack, cal)
    before, cycle = runs(stack, cal), cycles(stack)
    stack.sim.graph.set_duplicate_rate(1.0)
    try:
        put_secret_meeting_in_outlook(stack, cal.email)
        # created + updated, each sent twice.
        log = stack.sim.graph.wait_for_deliveries(
            lambda log: sum(d.get("outcome") == "delivered" for d in log) >= 4,
            subscription_id=sub.id,
            kind="change",
        )
    finally:
        stack.sim.graph.set_duplicate_rate(0.0)
    assert len(log) == 4
    stack.host.wait_until_idle()
    assert_runs_grew_by(stack, cal, before, cycle, 1)


def test_a_google_push_for_a_calendar_change_leads_to_a_sync(stack: Stack, org: str) -> None:
    cal = google_calendar(stack, org)
    sync_now(stack, cal)
    sub = graph_subscription(stack, cal)
    assert sub.provider == "google" and sub.resource_id
    assert any(c["id"] == sub.id for c in stack.sim.google.channels())
    before, cycle = runs(stack, cal), cycles(stack)

    event = put_secret_meeting_in_google(stack, cal.email)
    stack.sim.google.wait_for_deliveries(2, channel_id=sub.id)  # sync, then exists
    stack.host.wait_until_idle()

    assert_runs_grew_by(stack, cal, before, cycle, 1)
    assert event["id"] in busy_ids(stack, cal)


def test_reauthorization_required_renews_the_subscription(stack: Stack, org: str) -> None:
    real_now = datetime.now(UTC)
    # Created "an hour ago" by our clock, so the renewal visibly moves the expiry.
    stack.clock.set(real_now - timedelta(hours=1))
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    created = graph_subscription(stack, cal)
    stack.clock.set(real_now)

    stack.sim.graph.trigger_lifecycle(created.id, "reauthorizationRequired")
    wait_for(lambda: graph_subscription(stack, cal).expires_at > created.expires_at)
    stack.host.wait_until_idle()

    renewed = graph_subscription(stack, cal)
    assert renewed.id == created.id
    assert renewed.expires_at - created.expires_at >= timedelta(minutes=59)
    (at_graph,) = [s for s in stack.sim.graph.subscriptions() if s["id"] == created.id]
    graph_expiry = datetime.fromisoformat(at_graph["expirationDateTime"].replace("Z", "+00:00"))
    assert abs(graph_expiry - renewed.expires_at) < timedelta(seconds=1)


def test_subscription_removed_creates_a_new_one_and_syncs(stack: Stack, org: str) -> None:
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    removed = graph_subscription(stack, cal)
    before, cycle = runs(stack, cal), cycles(stack)

    stack.sim.graph.trigger_lifecycle(removed.id, "subscriptionRemoved")
    wait_for(lambda: getattr(current(stack, cal), "id", removed.id) != removed.id)
    stack.host.wait_until_idle()

    fresh = graph_subscription(stack, cal)
    assert subscriptions.lookup(stack.services.tables, removed.id) is None
    assert subscriptions.lookup(stack.services.tables, fresh.id) is not None
    assert [
        s["id"] for s in stack.sim.graph.subscriptions() if s["id"] in (removed.id, fresh.id)
    ] == [fresh.id]
    assert_runs_grew_by(stack, cal, before, cycle, 1)
    # The new subscription works: an Outlook change is synced again.
    event = put_secret_meeting_in_outlook(stack, cal.email)
    stack.sim.graph.wait_for_deliveries(
        lambda log: any(d.get("outcome") == "delivered" for d in log),
        subscription_id=fresh.id,
        kind="change",
    )
    stack.host.wait_until_idle()
    assert event["id"] in busy_ids(stack, cal)


def test_missed_notifications_lead_to_a_sync(stack: Stack, org: str) -> None:
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    sub = graph_subscription(stack, cal)
    before, cycle = runs(stack, cal), cycles(stack)

    stack.sim.graph.trigger_lifecycle(sub.id, "missed")
    stack.sim.graph.wait_for_deliveries(
        lambda log: any(d.get("outcome") == "delivered" for d in log),
        subscription_id=sub.id,
        kind="lifecycle",
    )
    stack.host.wait_until_idle()

    assert_runs_grew_by(stack, cal, before, cycle, 1)
    assert graph_subscription(stack, cal).id == sub.id


def test_forged_client_state_and_channel_token_are_ignored(stack: Stack, org: str) -> None:
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    sub = graph_subscription(stack, cal)
    before, cycle = runs(stack, cal), cycles(stack)
    forged = {
        "value": [
            {"subscriptionId": sub.id, "clientState": "guessed", "changeType": "updated"},
            {"subscriptionId": "not-ours", "clientState": "x", "changeType": "updated"},
        ]
    }
    answer = stack.http.post("/api/webhooks/microsoft", json=forged)
    assert answer.status_code == 202 and answer.json() == {"accepted": 0}
    lifecycle = {"value": [{**forged["value"][0], "lifecycleEvent": "subscriptionRemoved"}]}
    answer = stack.http.post("/api/webhooks/microsoft/lifecycle", json=lifecycle)
    assert answer.status_code == 202 and answer.json() == {"accepted": 0}
    answer = stack.http.post(
        "/api/webhooks/google",
        headers={
            "X-Goog-Channel-ID": sub.id,
            "X-Goog-Channel-Token": "guessed",
            "X-Goog-Resource-State": "exists",
            "X-Goog-Message-Number": "7",
        },
    )
    assert answer.status_code == 200 and answer.json() == {"accepted": 0}
    stack.host.wait_until_idle()

    assert pending(stack.services.tables, cal.key) is None
    assert_runs_grew_by(stack, cal, before, cycle, 0)
    assert graph_subscription(stack, cal).id == sub.id


def test_the_validation_handshake_echoes_the_token_as_plain_text(stack: Stack) -> None:
    token = "Validation: Testing client application reachability"
    for path in ("/api/webhooks/microsoft", "/api/webhooks/microsoft/lifecycle"):
        answer = stack.http.post(path, params={"validationToken": token})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.text == token


def test_webhook_context_is_the_apps_own(stack: Stack) -> None:
    # The tests read the same stores the app writes (one Services object in this process).
    assert sync_context(stack.services).consent.tables is stack.services.tables
