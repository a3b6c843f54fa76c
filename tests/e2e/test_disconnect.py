"""Disconnecting a calendar stops its subscription at the provider and forgets its sync state."""

from __future__ import annotations

from shared.sync.busy import BUSY
from shared.sync.cursors import CursorStore
from tests.e2e.conftest import Stack
from tests.e2e.tenants import put_secret_meeting_in_google, put_secret_meeting_in_outlook
from tests.e2e.test_webhooks import (
    busy_ids,
    current,
    google_calendar,
    graph_subscription,
    microsoft_calendar,
    sync_now,
)


def test_disconnect_stops_the_graph_subscription_and_forgets_the_calendar(
    stack: Stack, org: str
) -> None:
    cal = microsoft_calendar(stack, org)
    put_secret_meeting_in_outlook(stack, cal.email)
    sync_now(stack, cal)
    sub = graph_subscription(stack, cal)
    assert busy_ids(stack, cal)
    assert sub.id in {s["id"] for s in stack.sim.graph.subscriptions() if not s["expired"]}

    gone = stack.call("DELETE", f"orgs/{org}/me/calendar", org=org, sub=cal.person)
    assert gone.status_code == 204

    assert sub.id not in {s["id"] for s in stack.sim.graph.subscriptions()}
    assert current(stack, cal) is None
    assert list(stack.services.tables.query(BUSY, cal.key)) == []
    assert CursorStore(stack.services.tables).get(cal.key) is None
    assert [n for n in stack.services.secrets.names() if cal.integration in n and "sub" in n] == []


def test_disconnect_stops_the_google_channel(stack: Stack, org: str) -> None:
    cal = google_calendar(stack, org)
    put_secret_meeting_in_google(stack, cal.email)
    sync_now(stack, cal)
    channel = current(stack, cal)
    assert channel is not None
    assert channel.id in {c["id"] for c in stack.sim.google.channels()}

    assert (
        stack.call("DELETE", f"orgs/{org}/me/calendar", org=org, sub=cal.person).status_code == 204
    )

    assert channel.id not in {c["id"] for c in stack.sim.google.channels()}
    assert current(stack, cal) is None
