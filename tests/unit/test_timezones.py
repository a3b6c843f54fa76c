"""The one time-zone module: Windows and IANA names, all-day dates, floating times, and unknown
names as errors that name the zone (never a silent UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from shared import timezones
from shared.errors import UnknownTimeZone
from shared.providers.google import mapping as google_mapping
from shared.providers.microsoft import mapping as graph_mapping

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_windows_and_iana_names_resolve_to_the_same_zone() -> None:
    summer = datetime(2026, 7, 1, 12, tzinfo=UTC)
    for name in ("W. Europe Standard Time", "Europe/Amsterdam", "Europe/Berlin"):
        assert summer.astimezone(timezones.zone(name)).utcoffset().total_seconds() == 7200
    assert timezones.iana_name("Pacific Standard Time") == "America/Los_Angeles"
    assert timezones.iana_name("UTC") == timezones.iana_name("Coordinated Universal Time") == "UTC"
    assert timezones.windows_name("Europe/Amsterdam") == "W. Europe Standard Time"


def test_unknown_zone_names_are_an_error_naming_the_zone() -> None:
    with pytest.raises(UnknownTimeZone) as caught:
        timezones.zone("Mars Standard Time")
    assert caught.value.zone == "Mars Standard Time"
    assert "Mars Standard Time" in caught.value.detail
    assert caught.value.code == "unknown_time_zone"
    with pytest.raises(UnknownTimeZone):
        graph_mapping.parse_dtz({"dateTime": "2026-03-01T09:00:00", "timeZone": "Nowhere/City"})


def test_graph_local_times_in_a_windows_zone_keep_their_offset_across_dst() -> None:
    winter = graph_mapping.parse_dtz(
        {"dateTime": "2026-03-27T09:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    )
    summer = graph_mapping.parse_dtz(
        {"dateTime": "2026-03-30T09:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    )
    assert winter == datetime(2026, 3, 27, 8, tzinfo=UTC)
    assert summer == datetime(2026, 3, 30, 7, tzinfo=UTC)


def test_writing_keeps_wall_clock_time_in_the_events_zone() -> None:
    moment = datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert timezones.to_graph(moment, "W. Europe Standard Time") == {
        "dateTime": "2026-03-30T09:00:00",
        "timeZone": "Europe/Berlin",
    }
    assert timezones.to_google(moment, "Europe/Amsterdam") == {
        "dateTime": "2026-03-30T09:00:00",
        "timeZone": "Europe/Amsterdam",
    }
    assert timezones.to_google(moment, "Europe/Amsterdam", all_day=True) == {
        "date": "2026-03-30",
        "timeZone": "Europe/Amsterdam",
    }


def test_google_all_day_dates_are_local_midnights_of_the_calendar_not_utc() -> None:
    event = {"id": "x1", "start": {"date": "2026-12-24"}, "end": {"date": "2026-12-25"}}
    change = google_mapping.to_change(event, "Europe/Amsterdam")
    assert change.start == datetime(2026, 12, 24, tzinfo=AMSTERDAM)
    assert change.end == datetime(2026, 12, 25, tzinfo=AMSTERDAM)
    assert change.start is not None and change.start.astimezone(UTC).hour == 23
    view = google_mapping.to_view(event, "Europe/Amsterdam")
    assert view.is_all_day and view.start == datetime(2026, 12, 24, tzinfo=AMSTERDAM)
    # The event's own zone wins over the calendar's.
    own = {
        "id": "x2",
        "start": {"date": "2026-12-24", "timeZone": "Asia/Tokyo"},
        "end": {"date": "2026-12-25", "timeZone": "Asia/Tokyo"},
    }
    assert google_mapping.to_change(own, "Europe/Amsterdam").start == datetime(
        2026, 12, 24, tzinfo=ZoneInfo("Asia/Tokyo")
    )


def test_all_day_across_a_dst_change_is_the_whole_local_days() -> None:
    start, end = timezones.all_day_bounds(date(2026, 3, 29), date(2026, 3, 30), AMSTERDAM)
    assert (start, end) == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    )
    start, end = timezones.local_day_span(datetime(2026, 10, 25, 12, tzinfo=UTC), AMSTERDAM)
    assert (end - start).total_seconds() == 25 * 3600


def test_graph_all_day_events_are_days_in_the_zone_they_were_created_in() -> None:
    raw = {
        "id": "AAMk1",
        "isAllDay": True,
        "originalStartTimeZone": "W. Europe Standard Time",
        "start": {"dateTime": "2026-07-10T00:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-07-11T00:00:00.0000000", "timeZone": "UTC"},
    }
    change = graph_mapping.change(raw)
    assert change.start == datetime(2026, 7, 9, 22, tzinfo=UTC)
    assert change.end == datetime(2026, 7, 10, 22, tzinfo=UTC)


def test_floating_times_need_a_zone() -> None:
    assert timezones.parse_local("2026-05-01T10:00:00", None, default=AMSTERDAM) == datetime(
        2026, 5, 1, 10, tzinfo=AMSTERDAM
    )
    with pytest.raises(UnknownTimeZone):
        timezones.parse_local("2026-05-01T10:00:00", None)
    assert timezones.parse_local("2026-05-01T10:00:00+02:00", "Asia/Tokyo") == datetime(
        2026, 5, 1, 8, tzinfo=UTC
    )
