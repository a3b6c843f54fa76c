"""Recurring meetings and all-day events pulled from both providers (real adapters against the
simulator, stores on Azurite): one busy interval per occurrence inside the window, cancelled
occurrences and series that end early drop out, occurrences follow the rolling window as days
pass, all-day events are the whole local day, and Google's incremental rounds stay bounded by
the window however long a series runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

from shared.clock import ManualClock
from shared.sync.pull import sync_window
from tests.integration.test_pull_google import Google
from tests.integration.test_pull_google import google_fixture as google_fixture
from tests.integration.test_pull_microsoft import Outlook
from tests.integration.test_pull_microsoft import outlook_fixture as outlook_fixture
from tests.providers.microsoft_support import (  # noqa: F401 (fixtures)
    org_fixture,
    sim_fixture,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ATHENS = ZoneInfo("Europe/Athens")


def _window(side: Google | Outlook) -> tuple[datetime, datetime]:
    return sync_window(side.sctx, side.sctx.consent.clock.now())


def _monday_after(days: int) -> date:
    day = datetime.now(UTC).date() + timedelta(days=days)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def expected_weekly(
    first: date, window: tuple[datetime, datetime], count: int | None = None
) -> set[datetime]:
    """09:00-09:30 Amsterdam every Monday from ``first``: the library's expansion in the window."""
    rule = rrule.rrule(
        rrule.WEEKLY,
        dtstart=datetime.combine(first, datetime.min.time()).replace(hour=9, tzinfo=AMSTERDAM),
        count=count,
        until=None if count else window[1],
    )
    return {
        s.astimezone(UTC) for s in rule if s < window[1] and s + timedelta(minutes=30) > window[0]
    }


def nine(day: date) -> datetime:
    """09:00 Amsterdam on ``day``, in UTC."""
    return (
        datetime.combine(day, datetime.min.time()).replace(hour=9, tzinfo=AMSTERDAM).astimezone(UTC)
    )


def _starts(side: Google | Outlook) -> set[datetime]:
    return {start.astimezone(UTC) for start, _, _ in side.busy().values()}


def test_google_weekly_series_is_one_busy_interval_per_occurrence_and_follows_changes(
    google: Google,
) -> None:
    first = _monday_after(2)
    created = google.org.google.create_event(
        google.email,
        {
            "summary": "Stand-up",
            "start": {"dateTime": f"{first}T09:00:00", "timeZone": "Europe/Amsterdam"},
            "end": {"dateTime": f"{first}T09:30:00", "timeZone": "Europe/Amsterdam"},
            "recurrence": ["RRULE:FREQ=WEEKLY"],
        },
    )
    google.pull()
    window = _window(google)
    assert _starts(google) == expected_weekly(first, window)
    busy = google.busy()
    assert all(end - start == timedelta(minutes=30) for start, end, _ in busy.values())
    assert {s.astimezone(AMSTERDAM).hour for s, _, _ in busy.values()} == {9}

    # The person cancels the second occurrence, then ends the series after the fourth.
    second = f"{created['id']}_{nine(first + timedelta(days=7)):%Y%m%dT%H%M%SZ}"
    google.org.google.delete_event(google.email, second)
    report = google.pull()
    assert not report.full_resync
    assert second not in google.busy()
    last = nine(first + timedelta(days=21))
    google.org.google.update_event(
        google.email,
        created["id"],
        {"recurrence": [f"RRULE:FREQ=WEEKLY;UNTIL={last.astimezone(UTC):%Y%m%dT%H%M%SZ}"]},
    )
    google.pull()
    expected = expected_weekly(first, window, count=4)
    expected.discard(nine(first + timedelta(days=7)))
    assert _starts(google) == expected
    google.org.google.delete_event(google.email, created["id"])
    google.pull()
    assert google.busy() == {}


def test_google_incremental_round_is_bounded_by_the_window(google: Google) -> None:
    """A change to a daily series without end brings back its occurrences in the window only,
    not the hundreds an unbounded singleEvents round would list."""
    first = datetime.now(UTC).date() + timedelta(days=1)
    created = google.org.google.create_event(
        google.email,
        {
            "summary": "Daily",
            "start": {"dateTime": f"{first}T07:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"{first}T07:15:00", "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=DAILY"],
        },
    )
    google.pull()
    window = _window(google)
    in_window = (window[1].date() - first).days
    assert len(google.busy()) == in_window
    google.org.google.update_event(google.email, created["id"], {"summary": "Daily (renamed)"})
    report = google.pull()
    assert not report.full_resync
    assert report.changes == in_window + 1  # the occurrences in the window and the series
    assert len(google.busy()) == in_window


def test_occurrences_follow_the_rolling_window_as_days_pass(google: Google) -> None:
    """Google's sync token reports changes, not the passing of time: the daily full listing of
    the moved window (WINDOW_DRIFT) brings occurrences that entered it and sweeps those that
    left it."""
    first = datetime.now(UTC).date() - timedelta(days=5)
    google.org.google.create_event(
        google.email,
        {
            "summary": "Daily",
            "start": {"dateTime": f"{first}T12:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"{first}T12:30:00", "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=DAILY"],
        },
    )
    google.pull()
    before = _starts(google)
    clock = google.sctx.consent.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=3))
    report = google.pull()
    assert report.full_resync is False and report.complete
    window = _window(google)
    after = _starts(google)
    assert min(after) >= window[0] - timedelta(minutes=30)
    assert max(after) > max(before)  # new occurrences entered at the far end
    assert min(after) > min(before)  # old ones left at the near end
    assert len(after) == len(before)


def test_google_all_day_event_blocks_the_whole_local_day(google: Google) -> None:
    google.org.google.set_time_zone(google.email, "Europe/Athens")
    day = datetime.now(UTC).date() + timedelta(days=5)
    created = google.org.google.create_event(
        google.email,
        {
            "summary": "Day off",
            "start": {"date": str(day)},
            "end": {"date": str(day + timedelta(days=1))},
        },
    )
    google.pull()
    start, end, _ = google.busy()[created["id"]]
    assert start == datetime.combine(day, datetime.min.time(), ATHENS)
    assert end == datetime.combine(day + timedelta(days=1), datetime.min.time(), ATHENS)


def _graph_series(
    first: date, zone: str = "W. Europe Standard Time", **span: Any
) -> dict[str, Any]:
    return {
        "subject": "Stand-up",
        "start": {"dateTime": f"{first}T09:00:00", "timeZone": zone},
        "end": {"dateTime": f"{first}T09:30:00", "timeZone": zone},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "noEnd", "startDate": str(first), **span},
        },
    }


def test_outlook_weekly_series_cancelled_occurrence_and_early_end(outlook: Outlook) -> None:
    first = _monday_after(2)
    graph = outlook.org.sim.graph
    master = graph.create_event(outlook.email, _graph_series(first))
    outlook.pull()
    window = _window(outlook)
    assert _starts(outlook) == expected_weekly(first, window)
    second = min(
        (k for k, v in outlook.busy().items() if v[0] > min(_starts(outlook))),
        key=lambda k: outlook.busy()[k][0],
    )
    graph.delete_event(outlook.email, second)
    outlook.pull()
    assert second not in outlook.busy()
    graph.update_event(
        outlook.email,
        master["id"],
        {
            "recurrence": _graph_series(
                first, type="endDate", endDate=str(first + timedelta(days=21))
            )["recurrence"]
        },
    )
    outlook.pull()
    assert len(outlook.busy()) == 3
    graph.delete_event(outlook.email, master["id"])
    outlook.pull()
    assert outlook.busy() == {}


def test_outlook_all_day_event_blocks_the_local_day_of_its_zone(outlook: Outlook) -> None:
    day = datetime.now(UTC).date() + timedelta(days=5)
    created = outlook.org.sim.graph.create_event(
        outlook.email,
        {
            "subject": "Day off",
            "isAllDay": True,
            "start": {"dateTime": f"{day}T00:00:00", "timeZone": "GTB Standard Time"},
            "end": {
                "dateTime": f"{day + timedelta(days=1)}T00:00:00",
                "timeZone": "GTB Standard Time",
            },
        },
    )
    outlook.pull()
    start, end, _ = outlook.busy()[created["id"]]
    assert start == datetime.combine(day, datetime.min.time(), ATHENS)
    assert end == datetime.combine(day + timedelta(days=1), datetime.min.time(), ATHENS)
