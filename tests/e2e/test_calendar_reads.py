"""Live reads through the HTTP contract: the agenda read with the user's own token and joined
with the host app's attached data, attaching data only to events that exist, and availability
from the kept busy intervals, with people without a calendar listed as unknown."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.http.flows import consent_context
from shared.sync.calendars import client_for, person_calendar
from shared.sync.context import SyncContext
from shared.sync.pull import pull_calendar
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
from tests.e2e.tenants import SECRET_BODY, SECRET_SUBJECT

READ_TABLES = ("appdata", "busy", "cursors", "notifications", "eventindex")


def hour(hours: float) -> datetime:
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    return base + timedelta(hours=hours)


def dtz(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def window(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def stored_text(stack: Stack) -> str:
    tables = stack.services.tables
    return json.dumps(
        [{k: str(v) for k, v in e.fields.items()} for t in READ_TABLES for e in tables.query(t)]
    )


def pull(stack: Stack, org: str, person: str) -> Any:
    """What the sync worker does for one calendar, in process against the same stores."""
    ctx = consent_context(stack.services)
    ref = person_calendar(ctx, org, person)
    assert ref is not None
    sctx = SyncContext(consent=ctx, queues=stack.services.queues)
    with closing(client_for(ctx, ref)) as client:
        return pull_calendar(sctx, ref, client)


def test_agenda_is_live_with_attendees_and_the_host_apps_attached_data(
    stack: Stack, org: str
) -> None:
    workspace = microsoft_workspace(stack, org)
    email, person = workspace.tenant.users[0], new_person_id()
    connect_microsoft(stack, org, person, email)
    colleague = workspace.tenant.users[1]
    event = stack.sim.graph.create_event(
        email,
        {
            "subject": SECRET_SUBJECT,
            "body": {"contentType": "text", "content": SECRET_BODY},
            "start": dtz(hour(9)),
            "end": dtz(hour(10)),
            "location": {"displayName": "Boardroom 7"},
            "attendees": [
                {"emailAddress": {"address": colleague, "name": "Colleague"}, "type": "required"}
            ],
        },
    )
    path = f"orgs/{org}/me/events"

    listed = stack.call("GET", path, org=org, sub=person, params=window(hour(0), hour(24)))
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert (item["id"], item["subject"], item["location"]) == (
        event["id"],
        SECRET_SUBJECT,
        "Boardroom 7",
    )
    assert item["organizer"] == email
    assert [(a["email"], a["name"]) for a in item["attendees"]] == [(colleague, "Colleague")]
    assert item["created_by_service"] is False and "app_data" not in item

    data = {"booking": "desk-42", "checked_in": True}
    put = stack.call(
        "PUT", f"{path}/{event['id']}/app-data", org=org, sub=person, json={"data": data}
    )
    assert put.status_code == 204, put.text
    again = stack.call("GET", path, org=org, sub=person, params=window(hour(0), hour(24)))
    assert again.json()["items"][0]["app_data"] == data

    # Only references and the host app's own data are at rest, never the event's content.
    stored = stored_text(stack)
    assert "desk-42" in stored
    for content in (SECRET_SUBJECT, SECRET_BODY, "Boardroom 7", colleague):
        assert content not in stored


def test_app_data_needs_an_event_of_the_callers_calendar(stack: Stack, org: str) -> None:
    workspace = microsoft_workspace(stack, org)
    owner, intruder = new_person_id(), new_person_id()
    connect_microsoft(stack, org, owner, workspace.tenant.users[0])
    connect_microsoft(stack, org, intruder, workspace.tenant.users[1])
    event = stack.sim.graph.create_event(
        workspace.tenant.users[0],
        {"subject": "Private", "start": dtz(hour(9)), "end": dtz(hour(10))},
    )
    path = f"orgs/{org}/me/events/{event['id']}/app-data"

    # Another user cannot attach data to an event that is not in their own calendar.
    refused = stack.call("PUT", path, org=org, sub=intruder, json={"data": {"x": 1}})
    assert (refused.status_code, refused.json()["code"]) == (404, "event_not_found")
    missing = stack.call(
        "PUT",
        f"orgs/{org}/me/events/AAMkNoSuchEvent/app-data",
        org=org,
        sub=owner,
        json={"data": {"x": 1}},
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "event_not_found")
    too_big = stack.call("PUT", path, org=org, sub=owner, json={"data": {"x": "y" * 17_000}})
    assert (too_big.status_code, too_big.json()["code"]) == (400, "app_data_too_large")
    not_connected = stack.call("GET", f"orgs/{org}/me/events", org=org, sub="nobody")
    assert (not_connected.status_code, not_connected.json()["code"]) == (404, "not_connected")
    too_long = stack.call(
        "GET",
        f"orgs/{org}/me/events",
        org=org,
        sub=owner,
        params=window(hour(0), hour(0) + timedelta(days=63)),
    )
    assert (too_long.status_code, too_long.json()["code"]) == (400, "window_too_large")


def test_google_agenda_defaults_to_the_next_seven_days(stack: Stack, org: str) -> None:
    workspace = google_workspace(stack, org)
    email, person = workspace.domain.users[0], new_person_id()
    connect_google(stack, org, person, email)
    soon = stack.sim.google.create_event(
        email,
        {
            "summary": "Soon",
            "start": {"dateTime": hour(9).isoformat()},
            "end": {"dateTime": hour(10).isoformat()},
            "attendees": [{"email": workspace.domain.users[1], "responseStatus": "accepted"}],
        },
    )
    stack.sim.google.create_event(
        email,
        {
            "summary": "Later",
            "start": {"dateTime": (hour(9) + timedelta(days=10)).isoformat()},
            "end": {"dateTime": (hour(10) + timedelta(days=10)).isoformat()},
        },
    )
    listed = stack.call("GET", f"orgs/{org}/me/events", org=org, sub=person)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["id"] for i in items] == [soon["id"]]
    assert [(a["email"], a["response"]) for a in items[0]["attendees"]] == [
        (workspace.domain.users[1], "accepted")
    ]


def test_availability_lists_kept_busy_intervals_and_unknown_people(stack: Stack, org: str) -> None:
    workspace = microsoft_workspace(stack, org)
    email, person = workspace.tenant.users[0], new_person_id()
    connect_microsoft(stack, org, person, email)
    for start, end, show_as in (
        (hour(9), hour(10), "busy"),
        (hour(9) + timedelta(minutes=30), hour(11), "tentative"),
        (hour(13), hour(14), "free"),
    ):
        stack.sim.graph.create_event(
            email,
            {"subject": SECRET_SUBJECT, "start": dtz(start), "end": dtz(end), "showAs": show_as},
        )
    report = pull(stack, org, person)
    assert report.complete and report.busy_upserts == 2

    answer = stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={"people": f"{person},stranger", **window(hour(0), hour(24))},
    )
    assert answer.status_code == 200, answer.text
    known, unknown = answer.json()["people"]
    assert (known["person"], known["status"]) == (person, "known")
    assert [
        (parse(b["start"]), parse(b["end"]), b["show_as"], b["source"]) for b in known["busy"]
    ] == [
        (hour(9), hour(10), "busy", "calendar"),
        (hour(9) + timedelta(minutes=30), hour(11), "tentative", "calendar"),
    ]
    assert [(parse(m["start"]), parse(m["end"])) for m in known["merged"]] == [(hour(9), hour(11))]
    assert unknown == {"person": "stranger", "status": "unknown", "busy": [], "merged": []}

    # A user token cannot read availability: it is the host app's (service) route.
    refused = stack.call(
        "GET", f"orgs/{org}/availability", org=org, sub=person, params={"people": person}
    )
    assert refused.status_code == 403
