"""Recurring events in the Google simulator: RRULE/EXDATE/RDATE in the event's zone,
singleEvents expansion with recurringEventId and originalStartTime, events.instances,
exceptions and cancelled instances in incremental rounds, all-day dates in the calendar's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule
from googleapiclient.errors import HttpError

from simulator.google.client import GoogleControl
from tests.simulator import test_google_calendar as base

# The fixtures of the Calendar v3 tests: a domain of its own per test, Ann signed in.
sim = base.sim
google = base.google
org = base.org
calendar = base.calendar
_close_services = base._close_services

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MARCH = {"timeMin": "2030-03-01T00:00:00Z", "timeMax": "2030-04-15T00:00:00Z"}


def weekly(**extra: Any) -> dict[str, Any]:
    return {
        "summary": "Stand-up",
        "start": {"dateTime": "2030-03-04T09:00:00", "timeZone": "Europe/Amsterdam"},
        "end": {"dateTime": "2030-03-04T09:30:00", "timeZone": "Europe/Amsterdam"},
        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO"],
        **extra,
    }


def _all(request_fn: Any, **params: Any) -> tuple[list[dict[str, Any]], str | None]:
    items: list[dict[str, Any]] = []
    while True:
        page = request_fn(**params).execute()
        items += page.get("items", [])
        if "nextPageToken" not in page:
            return items, page.get("nextSyncToken")
        params["pageToken"] = page["nextPageToken"]


def test_single_events_expand_a_weekly_series_at_0900_local_across_dst(calendar: Any) -> None:
    events = calendar.events()
    master = events.insert(calendarId="primary", body=weekly()).execute()
    assert master["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=MO"]
    items, _ = _all(
        events.list, calendarId="primary", singleEvents=True, orderBy="startTime", **MARCH
    )
    assert {i["recurringEventId"] for i in items} == {master["id"]}
    starts = [datetime.fromisoformat(i["start"]["dateTime"]) for i in items]
    expected = list(
        rrule.rrule(
            rrule.WEEKLY,
            byweekday=rrule.MO,
            dtstart=datetime(2030, 3, 4, 9, tzinfo=AMSTERDAM),
            until=datetime(2030, 4, 14, tzinfo=AMSTERDAM),
        )
    )
    assert starts == expected
    assert {s.astimezone(AMSTERDAM).hour for s in starts} == {9}
    assert [s.astimezone(UTC).hour for s in starts][3:5] == [8, 7]  # summer time from 31 March
    assert items[0]["id"] == f"{master['id']}_20300304T080000Z"
    assert items[0]["originalStartTime"]["timeZone"] == "Europe/Amsterdam"
    assert "recurrence" not in items[0]
    # Without singleEvents the recurring event itself is listed.
    plain, _ = _all(events.list, calendarId="primary", **MARCH)
    assert [i["id"] for i in plain] == [master["id"]]
    # events.instances expands the same way.
    instances = events.instances(calendarId="primary", eventId=master["id"], **MARCH).execute()
    assert [i["id"] for i in instances["items"]] == [i["id"] for i in items]


def test_exdate_and_rdate_and_count(calendar: Any) -> None:
    body = weekly(
        recurrence=[
            "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4",
            "EXDATE;TZID=Europe/Amsterdam:20300311T090000",
            "RDATE;TZID=Europe/Amsterdam:20300313T150000",
        ]
    )
    master = calendar.events().insert(calendarId="primary", body=body).execute()
    items, _ = _all(
        calendar.events().list,
        calendarId="primary",
        singleEvents=True,
        orderBy="startTime",
        **MARCH,
    )
    local = [datetime.fromisoformat(i["start"]["dateTime"]).astimezone(AMSTERDAM) for i in items]
    assert [d.strftime("%m-%d %H:%M") for d in local] == [
        "03-04 09:00",
        "03-13 15:00",
        "03-18 09:00",
        "03-25 09:00",
    ]
    assert {i["recurringEventId"] for i in items} == {master["id"]}


def test_changed_and_cancelled_instances_come_back_in_incremental_rounds(
    calendar: Any, google: GoogleControl, org: dict[str, str]
) -> None:
    events = calendar.events()
    master = events.insert(calendarId="primary", body=weekly()).execute()
    first, token = _all(
        events.list, calendarId="primary", singleEvents=True, showDeleted=True, **MARCH
    )
    second, third = first[1]["id"], first[2]["id"]
    moved = google.update_event(
        org["ann"],
        second,
        {
            "start": {"dateTime": "2030-03-11T14:00:00", "timeZone": "Europe/Amsterdam"},
            "end": {"dateTime": "2030-03-11T14:30:00", "timeZone": "Europe/Amsterdam"},
        },
    )
    assert moved["recurringEventId"] == master["id"]
    assert moved["originalStartTime"]["dateTime"].startswith("2030-03-11T09:00:00")
    google.delete_event(org["ann"], third)
    changes, token = _all(
        events.list, calendarId="primary", singleEvents=True, showDeleted=True, syncToken=token
    )
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {second, third}
    assert by_id[third]["status"] == "cancelled"
    assert by_id[third]["recurringEventId"] == master["id"]
    assert by_id[second]["start"]["dateTime"].startswith("2030-03-11T14:00")
    # The series now shows the exception and lacks the cancelled instance.
    items, _ = _all(events.list, calendarId="primary", singleEvents=True, **MARCH)
    assert third not in {i["id"] for i in items}
    assert {i["id"]: i for i in items}[second]["start"]["dateTime"].startswith("2030-03-11T14:00")
    # A cancelled instance stays readable as cancelled; events.instances hides it.
    assert events.get(calendarId="primary", eventId=third).execute()["status"] == "cancelled"
    listed = events.instances(calendarId="primary", eventId=master["id"], **MARCH).execute()
    assert third not in {i["id"] for i in listed["items"]}


def test_a_recurring_event_needs_a_time_zone_and_a_valid_rule(calendar: Any) -> None:

    bad_zone = weekly(
        start={"dateTime": "2030-03-04T09:00:00+01:00"},
        end={"dateTime": "2030-03-04T09:30:00+01:00"},
    )
    with pytest.raises(HttpError) as caught:
        calendar.events().insert(calendarId="primary", body=bad_zone).execute()
    assert caught.value.resp.status == 400
    with pytest.raises(HttpError) as caught:
        calendar.events().insert(
            calendarId="primary", body=weekly(recurrence=["RRULE:FREQ=SOMETIMES"])
        ).execute()
    assert caught.value.resp.status == 400


def test_all_day_series_in_the_calendars_zone(
    calendar: Any, google: GoogleControl, org: dict[str, str]
) -> None:
    google.set_time_zone(org["ann"], "Europe/Athens")
    body = {
        "summary": "Course",
        "start": {"date": "2030-03-30"},
        "end": {"date": "2030-03-31"},
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
    }
    master = calendar.events().insert(calendarId="primary", body=body).execute()
    # 22:30 UTC on 30 March is 00:30 on 31 March in Athens (UTC+2): the second day.
    page = (
        calendar.events()
        .list(
            calendarId="primary",
            singleEvents=True,
            timeMin="2030-03-30T22:30:00Z",
            timeMax="2030-03-30T23:00:00Z",
        )
        .execute()
    )
    assert page["timeZone"] == "Europe/Athens"
    assert [i["id"] for i in page["items"]] == [f"{master['id']}_20300331"]
    assert page["items"][0]["start"] == {"date": "2030-03-31"}
