"""Series, zones and all-day events through the HTTP contract, for both providers: a host-app
weekly series reaches each person's calendar once, as a series in the event's zone; rules and
zones neither calendar can take are refused naming the field; an all-day event in a UTC+2
calendar blocks exactly that local day in /availability."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.http.flows import consent_context
from shared.sync.calendars import client_for, person_calendar
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import (
    ADMIN,
    HOST_APP,
    SERVICE,
    connect_google,
    connect_microsoft,
    google_workspace,
    microsoft_workspace,
    new_person_id,
    outcomes,
    put_event,
)
from tests.e2e.test_pull import feed

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def outlook_person(stack: Stack, org: str) -> tuple[str, str, str]:
    """(integration id, mailbox, person id) of a connected Outlook user."""
    workspace = microsoft_workspace(stack, org)
    email, person = workspace.tenant.users[0], new_person_id()
    connect_microsoft(stack, org, person, email)
    return workspace.integration, email, person


def google_person(stack: Stack, org: str) -> tuple[str, str, str]:
    workspace = google_workspace(stack, org)
    email, person = workspace.domain.users[0], new_person_id()
    connect_google(stack, org, person, email)
    return workspace.integration, email, person


def sync(stack: Stack, org: str, integration: str) -> None:
    """The admin's on-demand sync, run by the worker (never beside it: one worker per
    calendar), then wait until every queued run is done."""
    response = stack.call(
        "POST", f"orgs/{org}/integrations/{integration}/sync", org=org, sub="ada", roles=ADMIN
    )
    assert response.status_code == 202, response.text
    stack.host.wait_until_idle()


ATHENS = ZoneInfo("Europe/Athens")


def next_monday_0900() -> datetime:
    day = datetime.now(AMSTERDAM).date() + timedelta(days=3)
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, 9, tzinfo=AMSTERDAM)


def _put_series(stack: Stack, org: str, person: str, start: datetime) -> None:
    for expected in (201, 200):  # the host app retries: still one series
        response = put_event(
            stack,
            org,
            "weekly-shift",
            people=[person],
            start=start,
            end=start + timedelta(hours=2),
            recurrence="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10",
            time_zone="Europe/Amsterdam",
        )
        assert response.status_code == expected, response.text
        assert response.json()["event"]["recurrence"] == "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10"
        assert outcomes(response)[person]["status"] == "synced"


def test_a_weekly_series_appears_once_in_outlook_as_a_series_in_its_zone(
    stack: Stack, org: str
) -> None:
    integration, email, person = outlook_person(stack, org)
    _put_series(stack, org, person, next_monday_0900())
    (master,) = stack.sim.graph.events(email)
    assert master["type"] == "seriesMaster"
    assert master["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    assert master["recurrence"]["range"]["type"] == "numbered"
    assert master["recurrence"]["range"]["numberOfOccurrences"] == 10
    assert master["recurrence"]["range"]["recurrenceTimeZone"] == "Europe/Amsterdam"
    # Our series' occurrences are the host app's own event, never busy time: availability
    # lists each occurrence once, as the host app's, in UTC with its zone.
    sync(stack, org, integration)
    start = next_monday_0900()
    answer = stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={
            "people": person,
            "start": (start - timedelta(hours=1)).isoformat(),
            "end": (start + timedelta(days=15)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text
    busy = answer.json()["people"][0]["busy"]
    assert [(b["source"], b["time_zone"]) for b in busy] == [("host_app", "Europe/Amsterdam")] * 3
    assert [datetime.fromisoformat(b["start"]) for b in busy] == [
        start + timedelta(days=7 * n) for n in range(3)
    ]
    assert all(datetime.fromisoformat(b["start"]).utcoffset() == timedelta(0) for b in busy)
    # The live agenda: UTC times with the zone the event was created in.
    listed = stack.call(
        "GET",
        f"orgs/{org}/me/events",
        org=org,
        sub=person,
        params={
            "start": (start - timedelta(hours=1)).isoformat(),
            "end": (start + timedelta(days=8)).isoformat(),
        },
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["time_zone"] for i in items] == ["Europe/Amsterdam"] * 2
    assert [datetime.fromisoformat(i["start"]) for i in items] == [
        start,
        start + timedelta(days=7),
    ]
    assert all(datetime.fromisoformat(i["start"]).utcoffset() == timedelta(0) for i in items)


def test_a_weekly_series_appears_once_in_google_as_a_series_in_its_zone(
    stack: Stack, org: str
) -> None:
    integration, email, person = google_person(stack, org)
    start = next_monday_0900()
    _put_series(stack, org, person, start)
    (series,) = [e for e in stack.sim.google.events(email) if e.get("status") != "cancelled"]
    assert series["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10"]
    assert series["start"] == {
        "dateTime": start.replace(tzinfo=None).isoformat(),
        "timeZone": "Europe/Amsterdam",
    }
    sync(stack, org, integration)
    assert _calendar_busy(stack, org, person, start) == []


def test_rules_and_zones_the_calendars_cannot_take_are_refused_naming_the_field(
    stack: Stack, org: str
) -> None:
    start = next_monday_0900()
    for field, extra in (
        ("body.recurrence", {"recurrence": "RRULE:FREQ=HOURLY"}),
        ("body.recurrence", {"recurrence": "RRULE:FREQ=MONTHLY;BYSETPOS=2;BYDAY=MO,TU"}),
        ("body.time_zone", {"time_zone": "Mars/Olympus_Mons"}),
        ("body.time_zone", {"time_zone": "W. Europe Standard Time"}),
    ):
        response = put_event(stack, org, "bad-series", people=["x"], start=start, **extra)
        assert response.status_code == 400, (extra, response.text)
        assert response.json()["code"] == "validation_failed"
        assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    not_midnight = put_event(
        stack, org, "bad-day", people=["x"], start=start, all_day=True, time_zone="Europe/Amsterdam"
    )
    assert not_midnight.status_code == 400


def test_an_all_day_event_in_a_utc_plus_2_calendar_blocks_exactly_that_local_day(
    stack: Stack, org: str
) -> None:
    integration, email, person = google_person(stack, org)
    stack.sim.google.set_time_zone(email, "Europe/Athens")
    day = datetime.now(ATHENS).date() + timedelta(days=2)
    stack.sim.google.create_event(
        email,
        {
            "summary": "Day off",
            "start": {"date": day.isoformat()},
            "end": {"date": (day + timedelta(days=1)).isoformat()},
        },
    )
    sync(stack, org, integration)
    midnight = datetime(day.year, day.month, day.day, tzinfo=ATHENS)
    answer = stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={
            "people": person,
            "start": (midnight - timedelta(days=1)).isoformat(),
            "end": (midnight + timedelta(days=2)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text
    (known,) = answer.json()["people"]
    busy = [
        (datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"]))
        for b in known["busy"]
    ]
    assert busy == [(midnight.astimezone(UTC), (midnight + timedelta(days=1)).astimezone(UTC))]
    assert busy[0][0].hour == 22  # 00:00 in Athens (UTC+2 in winter) is 22:00 UTC the day before
    assert known["busy"][0]["time_zone"] == "Europe/Athens"


def _calendar_busy(stack: Stack, org: str, person: str, start: datetime) -> list[Any]:
    answer = stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={
            "people": person,
            "start": start.isoformat(),
            "end": (start + timedelta(days=30)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text
    return [b for b in answer.json()["people"][0]["busy"] if b["source"] == "calendar"]


def _occurrences(stack: Stack, org: str, person: str, start: datetime) -> list[Any]:
    ctx = consent_context(stack.services)
    ref = person_calendar(ctx, org, person)
    assert ref is not None
    with closing(client_for(ctx, ref)) as client:
        return client.events_between(start - timedelta(hours=1), start + timedelta(days=22))


def test_a_person_moving_one_occurrence_in_outlook_is_reported_once_naming_it(
    stack: Stack, org: str
) -> None:
    integration, email, person = outlook_person(stack, org)
    start = next_monday_0900()
    _put_series(stack, org, person, start)
    sync(stack, org, integration)
    second = _occurrences(stack, org, person, start)[1]
    moved_to = second.start + timedelta(hours=5)
    stack.sim.graph.move_event(email, second.id, moved_to, moved_to + timedelta(hours=2))
    for _ in range(2):  # a second sync (a replay, a later round) reports nothing new
        sync(stack, org, integration)
    moves = [n for n in feed(stack, org) if n["kind"] == "event_moved"]
    assert len(moves) == 1, moves
    data = moves[0]["data"]
    assert data["app_event"] == "weekly-shift" and data["person"] == person
    assert datetime.fromisoformat(data["original_start"]) == start + timedelta(days=7)
    assert datetime.fromisoformat(data["start"]) == moved_to


def test_a_person_deleting_one_occurrence_in_google_is_reported_once_naming_it(
    stack: Stack, org: str
) -> None:
    integration, email, person = google_person(stack, org)
    start = next_monday_0900()
    _put_series(stack, org, person, start)
    sync(stack, org, integration)
    third = _occurrences(stack, org, person, start)[2]
    stack.sim.google.delete_event(email, third.id)
    for _ in range(2):
        sync(stack, org, integration)
    cancelled = [n for n in feed(stack, org) if n["kind"] == "event_cancelled"]
    assert len(cancelled) == 1, cancelled
    data = cancelled[0]["data"]
    assert data["app_event"] == "weekly-shift" and data["person"] == person
    assert datetime.fromisoformat(data["original_start"]) == start + timedelta(days=14)
    # The rest of the series stays: one occurrence was cancelled, not the event.
    assert len(_occurrences(stack, org, person, start)) == 3


def _host_app_edits_one_occurrence_and_cancels_another(
    stack: Stack, org: str, integration: str, person: str
) -> list[Any]:
    start = next_monday_0900()
    _put_series(stack, org, person, start)
    second, third = start + timedelta(days=7), start + timedelta(days=14)
    for expected in (200, 200):  # a retry changes nothing more
        response = put_event(
            stack,
            org,
            "weekly-shift",
            people=[person],
            start=start,
            end=start + timedelta(hours=2),
            recurrence="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10",
            time_zone="Europe/Amsterdam",
            occurrences=[
                {
                    "original_start": second.isoformat(),
                    "start": (second + timedelta(hours=4)).isoformat(),
                    "end": (second + timedelta(hours=6)).isoformat(),
                },
                {"original_start": third.isoformat(), "cancelled": True},
            ],
        )
        assert response.status_code == expected, response.text
        assert outcomes(response)[person]["status"] == "synced"
    sync(stack, org, integration)
    assert feed(stack, org) == []  # the host app's own changes are not reported back
    return [
        o.start.astimezone(AMSTERDAM).strftime("%m-%d %H:%M")
        for o in _occurrences(stack, org, person, start)
    ]


def test_the_host_app_moves_and_cancels_single_occurrences_in_outlook(
    stack: Stack, org: str
) -> None:
    integration, email, person = outlook_person(stack, org)
    shown = _host_app_edits_one_occurrence_and_cancels_another(stack, org, integration, person)
    start = next_monday_0900()
    assert shown == [
        start.strftime("%m-%d %H:%M"),
        (start + timedelta(days=7, hours=4)).strftime("%m-%d %H:%M"),
        (start + timedelta(days=21)).strftime("%m-%d %H:%M"),
    ]
    assert len(stack.sim.graph.events(email)) == 2  # the series and its one exception


def test_the_host_app_moves_and_cancels_single_occurrences_in_google(
    stack: Stack, org: str
) -> None:
    integration, email, person = google_person(stack, org)
    shown = _host_app_edits_one_occurrence_and_cancels_another(stack, org, integration, person)
    start = next_monday_0900()
    assert shown == [
        start.strftime("%m-%d %H:%M"),
        (start + timedelta(days=7, hours=4)).strftime("%m-%d %H:%M"),
        (start + timedelta(days=21)).strftime("%m-%d %H:%M"),
    ]
    series = [e for e in stack.sim.google.events(email) if not e.get("recurringEventId")]
    assert len(series) == 1
