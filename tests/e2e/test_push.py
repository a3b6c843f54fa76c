"""Host-app events reach people's calendars in real time, through the HTTP contract.

Calendars are read back through the simulator's control clients, as the people would see them
in Outlook or Google Calendar.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.queue import QueueClient

from shared.sync.context import SYNC_QUEUE
from shared.sync.mappings import EventRefs
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import (
    connect_microsoft,
    connected_google_user,
    connected_microsoft_user,
    delete_event,
    event_times,
    new_person_id,
    outcomes,
    pair_room,
    put_event,
    put_people,
)


def graph_start(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["start"]["dateTime"][:19]).replace(tzinfo=UTC)


def google_live(stack: Stack, email: str) -> list[dict[str, Any]]:
    return [e for e in stack.sim.google.events(email) if e.get("status") != "cancelled"]


def google_start(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["start"]["dateTime"]).astimezone(UTC)


def test_a_host_app_event_reaches_an_outlook_calendar_once_moves_and_leaves(
    stack: Stack, org: str
) -> None:
    _tenant, email, person = connected_microsoft_user(stack, org)
    start, end = event_times(hours_from_now=30)

    created = put_event(stack, org, "shift-1", people=[person], start=start, end=end)
    assert created.status_code == 201, created.text
    mine = outcomes(created)[person]
    assert (mine["status"], mine["action"], mine["provider"]) == ("synced", "created", "microsoft")
    (event,) = stack.sim.graph.events(email)
    assert event["id"] == mine["provider_event_id"]
    assert event["subject"] == "Shift: front desk"
    assert graph_start(event) == start

    # The host app retries the same request (a timeout on its side): nothing new is created.
    retried = put_event(stack, org, "shift-1", people=[person], start=start, end=end)
    assert retried.status_code == 200, retried.text
    assert retried.json()["event"]["version"] == 1
    assert outcomes(retried)[person]["action"] == "unchanged"
    assert [e["id"] for e in stack.sim.graph.events(email)] == [event["id"]]

    moved = put_event(stack, org, "shift-1", people=[person], start=start + timedelta(hours=2))
    assert outcomes(moved)[person]["action"] == "updated"
    (event,) = stack.sim.graph.events(email)
    assert graph_start(event) == start + timedelta(hours=2)

    gone = delete_event(stack, org, "shift-1")
    assert gone.status_code == 200, gone.text
    assert gone.json()["event"]["status"] == "cancelled"
    assert outcomes(gone)[person]["action"] == "deleted"
    assert stack.sim.graph.events(email) == []


def test_removing_a_person_removes_the_event_from_their_calendar_only(
    stack: Stack, org: str
) -> None:
    tenant, ana_email, ana = connected_microsoft_user(stack, org)
    ben, ben_email = new_person_id(), tenant.users[1]
    connect_microsoft(stack, org, ben, ben_email)
    put_people(stack, org, [(ben, "Ben", ben_email)])

    both = put_event(stack, org, "training-7", people=[ana, ben])
    assert {o["status"] for o in both.json()["people"]} == {"synced"}
    assert len(stack.sim.graph.events(ana_email)) == len(stack.sim.graph.events(ben_email)) == 1

    only_ana = put_event(stack, org, "training-7", people=[ana])
    assert outcomes(only_ana)[ben]["action"] == "deleted"
    # A new version for everyone still assigned (the same content is written again).
    assert outcomes(only_ana)[ana]["status"] == "synced"
    assert stack.sim.graph.events(ben_email) == []
    assert len(stack.sim.graph.events(ana_email)) == 1

    # Deleting the event cancels it for the remaining person; the removed one is untouched.
    cancelled = delete_event(stack, org, "training-7")
    assert outcomes(cancelled)[ana]["action"] == "deleted"
    assert stack.sim.graph.events(ana_email) == []


def test_a_host_app_event_reaches_a_google_calendar_once_moves_and_leaves(
    stack: Stack, org: str
) -> None:
    _domain, email, person = connected_google_user(stack, org)
    start, end = event_times(hours_from_now=50)

    created = put_event(stack, org, "session-3", people=[person], start=start, end=end)
    assert created.status_code == 201, created.text
    mine = outcomes(created)[person]
    assert (mine["status"], mine["provider"]) == ("synced", "google")
    (event,) = google_live(stack, email)
    assert event["id"] == mine["provider_event_id"]
    assert (event["summary"], google_start(event)) == ("Shift: front desk", start)

    put_event(stack, org, "session-3", people=[person], start=start, end=end)
    assert [e["id"] for e in google_live(stack, email)] == [event["id"]]

    moved = put_event(stack, org, "session-3", people=[person], start=start - timedelta(hours=1))
    assert outcomes(moved)[person]["action"] == "updated"
    (event,) = google_live(stack, email)
    assert google_start(event) == start - timedelta(hours=1)

    delete_event(stack, org, "session-3")
    assert google_live(stack, email) == []


def test_a_person_without_a_calendar_gets_the_event_when_they_connect(
    stack: Stack, org: str
) -> None:
    tenant, _ana_email, ana = connected_microsoft_user(stack, org)
    ben, ben_email = new_person_id(), tenant.users[1]
    put_people(stack, org, [(ben, "Ben", ben_email)])

    response = put_event(stack, org, "shift-9", people=[ana, ben])
    assert outcomes(response)[ben] == {"person": ben, "status": "no_calendar"}

    connect_microsoft(stack, org, ben, ben_email)
    people = put_people(stack, org, [(ben, "Ben", ben_email)])
    assert people["people"] == [{"id": ben, "calendar": True, "provider": "microsoft"}]
    # The next sync of Ben's calendar (the 5-minute cycle) drains the marker left for him.
    integration = stack.call(
        "GET", f"orgs/{org}/integrations", org=org, sub="ada", roles=("admin",)
    ).json()["items"][0]["id"]
    calendar = f"{integration}:{ben}"
    stack.host.invoke("sync_worker", json.dumps({"org": org, "calendar": calendar}))
    (event,) = stack.sim.graph.events(ben_email)
    assert event["subject"] == "Shift: front desk"


def test_a_throttling_provider_queues_the_push_with_its_retry_after(stack: Stack, org: str) -> None:
    tenant, email, person = connected_microsoft_user(stack, org)
    before = stack.sim.faults()["rules"]
    stack.sim.add_fault_rule(
        area="graph", tenant=tenant.tenant_id, throttle_probability=1.0, retry_after_seconds=30
    )
    try:
        began = time.monotonic()
        response = put_event(stack, org, "shift-2", people=[person])
        took = time.monotonic() - began
    finally:
        stack.sim.set_faults(before)
    queue = QueueClient.from_connection_string(stack.azurite.connection_string, SYNC_QUEUE)
    try:
        assert response.status_code == 201, response.text
        mine = outcomes(response)[person]
        assert (mine["status"], mine["delay_seconds"]) == ("queued", 30)
        assert took < 10  # Retry-After became the message's delay, not a sleep
        assert stack.sim.graph.events(email) == []
        # The message is on the queue, invisible for 30 s (counted all the same).
        assert (queue.get_queue_properties().approximate_message_count or 0) >= 1
        # When it runs (here: now, the throttling over), the event lands.
        integration = stack.call(
            "GET", f"orgs/{org}/integrations", org=org, sub="ada", roles=("admin",)
        ).json()["items"][0]["id"]
        message = {"org": org, "calendar": f"{integration}:{person}"}
        stack.host.invoke("sync_worker", json.dumps(message))
        (event,) = stack.sim.graph.events(email)
        assert event["subject"] == "Shift: front desk"
    finally:
        # The 30 s message would otherwise hold up later tests waiting for idle queues.
        queue.clear_messages()
        queue.close()


def test_a_paired_room_is_booked_as_a_resource_attendee(stack: Stack, org: str) -> None:
    tenant, email, person = connected_microsoft_user(stack, org)
    room_email = f"room-aurora@{tenant.domain}"
    pair_room(stack, org, "aurora", room_email, "Aurora")

    response = put_event(stack, org, "meeting-1", people=[person], room="aurora")
    assert outcomes(response)[person]["status"] == "synced"
    (event,) = stack.sim.graph.events(email)
    rooms = [a for a in event["attendees"] if a["type"] == "resource"]
    assert [r["emailAddress"]["address"].lower() for r in rooms] == [room_email.lower()]
    assert event["location"]["displayName"] == "Aurora"
    assert len(stack.sim.graph.events(room_email)) == 1  # the room's calendar has the booking
    mapping = EventRefs(stack.services.tables).get(org, "meeting-1", person)
    assert mapping is not None and mapping.room_response == "pending"


def test_invalid_events_are_refused_with_the_fields_named(stack: Stack, org: str) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    response = put_event(stack, org, "bad", people=["x"], start=start, end=start)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"
    naive = stack.call(
        "PUT",
        f"orgs/{org}/events/bad",
        org=org,
        sub="host-backend",
        roles=("service",),
        json={
            "subject": "s",
            "start": "2030-01-01T10:00:00",
            "end": "2030-01-01T11:00:00",
            "people": [],
        },
    )
    assert naive.status_code == 400
    fields = {e["field"] for e in naive.json()["errors"]}
    assert {"body.start", "body.end"} <= fields
    unknown = delete_event(stack, org, "never-created")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "event_not_found")
    not_service = stack.call("PUT", f"orgs/{org}/people", org=org, sub="bob", json={"people": []})
    assert not_service.status_code == 403
