"""Pull end to end: connected users' calendars are pulled with their stored tokens (as the sync
worker does), external changes show in availability over HTTP, and a move in Outlook or a
deletion in Google of an event the service created reaches the host app's notification feed.

The service's own events are written with the user's calendar client and mapped through the
table schema of docs/sync-design.md (the rows the push path writes after a provider accepted a
create), so these scenarios exercise the pull path alone."""

from __future__ import annotations

import uuid
from contextlib import closing
from datetime import timedelta
from typing import Any

from shared.http.flows import consent_context
from shared.providers.base import EventDraft
from shared.sync.calendars import CalendarRef, client_for, person_calendar
from shared.sync.context import SyncContext
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import (
    HOST_APP,
    SERVICE,
    connect_google,
    connect_microsoft,
    google_workspace,
    microsoft_workspace,
    new_person_id,
)
from tests.e2e.test_calendar_reads import dtz, hour, parse, pull, window
from tests.integration.test_pull_microsoft import map_our_event


def calendar(stack: Stack, org: str, person: str) -> tuple[SyncContext, CalendarRef]:
    ctx = consent_context(stack.services)
    ref = person_calendar(ctx, org, person)
    assert ref is not None
    return SyncContext(consent=ctx, queues=stack.services.queues), ref


def our_event(stack: Stack, org: str, person: str, app_event: str) -> str:
    """The service puts ``app_event`` in the person's calendar (9:00-10:00 tomorrow)."""
    sctx, ref = calendar(stack, org, person)
    draft = EventDraft(
        key=uuid.uuid4().hex, app_ref=app_event, subject="Shift", start=hour(9), end=hour(10)
    )
    with closing(client_for(sctx.consent, ref)) as client:
        written = client.create_event(draft)
    map_our_event(
        sctx,
        ref,
        written.id,
        written.change_key,
        app_event=app_event,
        start=hour(9),
        end=hour(10),
    )
    return written.id


def feed(stack: Stack, org: str) -> list[dict[str, Any]]:
    answer = stack.call("GET", f"orgs/{org}/notifications", org=org, sub=HOST_APP, roles=SERVICE)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def busy(stack: Stack, org: str, person: str) -> list[tuple[Any, ...]]:
    answer = stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={"people": person, **window(hour(0), hour(24))},
    )
    assert answer.status_code == 200, answer.text
    (found,) = answer.json()["people"]
    return [(parse(b["start"]), parse(b["end"]), b["source"]) for b in found["busy"]]


def test_outlook_changes_reach_availability_and_a_move_of_ours_the_feed(
    stack: Stack, org: str
) -> None:
    workspace = microsoft_workspace(stack, org)
    email, person = workspace.tenant.users[0], new_person_id()
    connect_microsoft(stack, org, person, email)
    external = stack.sim.graph.create_event(
        email, {"subject": "Dentist", "start": dtz(hour(12)), "end": dtz(hour(13))}
    )
    ours = our_event(stack, org, person, "shift-1")

    first = pull(stack, org, person)
    assert (first.ours, first.echoes, first.notifications) == (1, 1, 0)
    # Our own event counts once, as the host app's event, never as a busy interval too.
    assert busy(stack, org, person) == [
        (hour(9), hour(10), "host_app"),
        (hour(12), hour(13), "calendar"),
    ]

    stack.sim.graph.move_event(email, external["id"], hour(15), hour(16))
    stack.sim.graph.move_event(email, ours, hour(10), hour(11))
    pull(stack, org, person)
    pull(stack, org, person)
    # The host app's event keeps its own times until the host app moves it.
    assert busy(stack, org, person) == [
        (hour(9), hour(10), "host_app"),
        (hour(15), hour(16), "calendar"),
    ]
    (moved,) = feed(stack, org)
    assert moved["kind"] == "event_moved"
    assert moved["data"]["app_event"] == "shift-1" and moved["data"]["person"] == person
    assert parse(moved["data"]["start"]) == hour(10)
    assert parse(moved["data"]["end"]) == hour(11)


def test_google_deletion_of_ours_reaches_the_feed_and_external_deletion_frees_the_slot(
    stack: Stack, org: str
) -> None:
    workspace = google_workspace(stack, org)
    email, person = workspace.domain.users[0], new_person_id()
    connect_google(stack, org, person, email)
    external = stack.sim.google.create_event(
        email,
        {
            "summary": "Gym",
            "start": {"dateTime": hour(18).isoformat()},
            "end": {"dateTime": (hour(18) + timedelta(hours=1)).isoformat()},
        },
    )
    ours = our_event(stack, org, person, "training-1")
    pull(stack, org, person)
    assert busy(stack, org, person) == [
        (hour(9), hour(10), "host_app"),
        (hour(18), hour(19), "calendar"),
    ]

    stack.sim.google.delete_event(email, ours)
    stack.sim.google.delete_event(email, external["id"])
    pull(stack, org, person)
    pull(stack, org, person)
    assert busy(stack, org, person) == [(hour(9), hour(10), "host_app")]
    assert [(n["kind"], n["data"]["app_event"]) for n in feed(stack, org)] == [
        ("event_cancelled", "training-1")
    ]
