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
    HOST_APP,
    SERVICE,
    connect_google,
    connected_google_user,
    connected_microsoft_user,
    google_workspace,
    new_person_id,
    outcomes,
    put_event,
)
from tests.e2e.test_calendar_reads import pull
from tests.e2e.test_pull import feed

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
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
    _tenant, email, person = connected_microsoft_user(stack, org)
    _put_series(stack, org, person, next_monday_0900())
    (master,) = stack.sim.graph.events(email)
    assert master["type"] == "seriesMaster"
    assert master["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    assert master["recurrence"]["range"]["type"] == "numbered"
    assert master["recurrence"]["range"]["numberOfOccurrences"] == 10
    assert master["recurrence"]["range"]["recurrenceTimeZone"] == "Europe/Amsterdam"
    # Our series' occurrences are the host app's own event, never busy time.
    report = pull(stack, org, person)
    assert report.complete and report.busy_upserts == 0 and report.ours >= 10


def test_a_weekly_series_appears_once_in_google_as_a_series_in_its_zone(
    stack: Stack, org: str
) -> None:
    _domain, email, person = connected_google_user(stack, org)
    start = next_monday_0900()
    _put_series(stack, org, person, start)
    (series,) = [e for e in stack.sim.google.events(email) if e.get("status") != "cancelled"]
    assert series["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10"]
    assert series["start"] == {
        "dateTime": start.replace(tzinfo=None).isoformat(),
        "timeZone": "Europe/Amsterdam",
    }
    report = pull(stack, org, person)
    assert report.complete and report.busy_upserts == 0 and report.ours >= 10


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
    workspace = google_workspace(stack, org)
    email, person = workspace.domain.users[0], new_person_id()
    connect_google(stack, org, person, email)
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
    assert pull(stack, org, person).complete
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


def _occurrences(stack: Stack, org: str, person: str, start: datetime) -> list[Any]:
    ctx = consent_context(stack.services)
    ref = person_calendar(ctx, org, person)
    assert ref is not None
    with closing(client_for(ctx, ref)) as client:
        return client.events_between(start - timedelta(hours=1), start + timedelta(days=22))


def test_a_person_moving_one_occurrence_in_outlook_is_reported_once_naming_it(
    stack: Stack, org: str
) -> None:
    _tenant, email, person = connected_microsoft_user(stack, org)
    start = next_monday_0900()
    _put_series(stack, org, person, start)
    pull(stack, org, person)
    second = _occurrences(stack, org, person, start)[1]
    moved_to = second.start + timedelta(hours=5)
    stack.sim.graph.move_event(email, second.id, moved_to, moved_to + timedelta(hours=2))
    for _ in range(2):  # a second pull (a replay, a later round) reports nothing new
        pull(stack, org, person)
    moves = [n for n in feed(stack, org) if n["kind"] == "event_moved"]
    assert len(moves) == 1, moves
    data = moves[0]["data"]
    assert data["app_event"] == "weekly-shift" and data["person"] == person
    assert datetime.fromisoformat(data["original_start"]) == start + timedelta(days=7)
    assert datetime.fromisoformat(data["start"]) == moved_to


def test_a_person_deleting_one_occurrence_in_google_is_reported_once_naming_it(
    stack: Stack, org: str
) -> None:
    _domain, email, person = connected_google_user(stack, org)
    start = next_monday_0900()
    _put_series(stack, org, person, start)
    pull(stack, org, person)
    third = _occurrences(stack, org, person, start)[2]
    stack.sim.google.delete_event(email, third.id)
    for _ in range(2):
        pull(stack, org, person)
    cancelled = [n for n in feed(stack, org) if n["kind"] == "event_cancelled"]
    assert len(cancelled) == 1, cancelled
    data = cancelled[0]["data"]
    assert data["app_event"] == "weekly-shift" and data["person"] == person
    assert datetime.fromisoformat(data["original_start"]) == start + timedelta(days=14)
    # The rest of the series stays: one occurrence was cancelled, not the event.
    assert len(_occurrences(stack, org, person, start)) == 3


def _host_app_edits_one_occurrence_and_cancels_another(
    stack: Stack, org: str, person: str
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
    pull(stack, org, person)
    assert feed(stack, org) == []  # the host app's own changes are not reported back
    return [
        o.start.astimezone(AMSTERDAM).strftime("%m-%d %H:%M")
        for o in _occurrences(stack, org, person, start)
    ]


def test_the_host_app_moves_and_cancels_single_occurrences_in_outlook(
    stack: Stack, org: str
) -> None:
    _tenant, email, person = connected_microsoft_user(stack, org)
    shown = _host_app_edits_one_occurrence_and_cancels_another(stack, org, person)
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
    _domain, email, person = connected_google_user(stack, org)
    shown = _host_app_edits_one_occurrence_and_cancels_another(stack, org, person)
    start = next_monday_0900()
    assert shown == [
        start.strftime("%m-%d %H:%M"),
        (start + timedelta(days=7, hours=4)).strftime("%m-%d %H:%M"),
        (start + timedelta(days=21)).strftime("%m-%d %H:%M"),
    ]
    series = [e for e in stack.sim.google.events(email) if not e.get("recurringEventId")]
    assert len(series) == 1
