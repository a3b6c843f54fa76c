"""Property: the busy intervals kept for an external recurring series are exactly the library's
own expansion of the same rule inside the sync window, whatever the rule, zone and window.

Hypothesis draws an RFC 5545 rule (frequency, interval, weekdays, COUNT or UNTIL or no end), an
IANA zone with DST (or odd offsets), a start and a duration, and how far the clock has moved.
The series is created in the Google simulator, pulled through the real adapter into Azurite, and
compared with python-dateutil's ``rrulestr`` expansion computed here, independently of our code.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.clock import ManualClock
from shared.sync.busy import BusyStore
from shared.sync.calendars import CalendarRef
from shared.sync.pull import pull_calendar, sync_window
from tests.integration.test_pull_google import Google
from tests.integration.test_pull_google import google_fixture as google_fixture

ZONES = [
    "UTC",
    "Europe/Amsterdam",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def series(draw: st.DrawFn) -> dict[str, Any]:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    interval = draw(st.integers(2, 6) if freq == "DAILY" else st.integers(1, 3))
    parts.append(f"INTERVAL={interval}")
    if freq == "WEEKLY":
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    end = draw(st.sampled_from(["count", "until", "none"]))
    start_day = draw(st.integers(-60, 150))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    elif end == "until":
        until = datetime.now(UTC) + timedelta(days=start_day + draw(st.integers(0, 200)))
        parts.append(f"UNTIL={until:%Y%m%dT%H%M%SZ}")
    return {
        "rule": "RRULE:" + ";".join(parts),
        "zone": draw(st.sampled_from(ZONES)),
        "start_day": start_day,
        "hour": draw(st.integers(0, 23)),
        "minute": draw(st.sampled_from([0, 15, 30, 45])),
        "minutes": draw(st.integers(15, 26 * 60)),
        "clock_days": draw(st.integers(0, 90)),
    }


def expected(case: dict[str, Any], start: datetime, window: tuple[datetime, datetime]) -> set[Any]:
    length = timedelta(minutes=case["minutes"])
    found = set()
    for local in rrule.rrulestr(case["rule"], dtstart=start):
        assert isinstance(local, datetime)
        if local.astimezone(UTC) >= window[1]:
            break
        end = (local.replace(tzinfo=None) + length).replace(tzinfo=local.tzinfo)
        if end.astimezone(UTC) > window[0]:
            found.add((local.astimezone(UTC), end.astimezone(UTC)))
    return found


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=series())
def test_busy_intervals_of_a_series_equal_the_librarys_expansion_in_the_window(
    google: Google, case: dict[str, Any]
) -> None:
    zone = ZoneInfo(case["zone"])
    today = datetime.now(UTC).astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (today + timedelta(days=case["start_day"])).replace(
        hour=case["hour"], minute=case["minute"]
    )
    # The wall-clock start as the person typed it, read in the zone (fold 0 in a DST gap).
    start = datetime.combine(start.date(), start.time(), zone)
    end = (start.replace(tzinfo=None) + timedelta(minutes=case["minutes"])).replace(tzinfo=zone)
    created = google.org.google.create_event(
        google.email,
        {
            "summary": "Drawn series",
            "start": {"dateTime": start.replace(tzinfo=None).isoformat(), "timeZone": case["zone"]},
            "end": {"dateTime": end.replace(tzinfo=None).isoformat(), "timeZone": case["zone"]},
            "recurrence": [case["rule"]],
        },
    )
    clock = google.sctx.consent.clock
    assert isinstance(clock, ManualClock)
    clock.set(datetime.now(UTC) + timedelta(days=case["clock_days"]))
    # A calendar key of its own (fresh cursor and busy rows) for each drawn case.
    ref = CalendarRef("org-g", "int-" + uuid.uuid4().hex[:8], "google", "ann", mailbox=google.email)
    try:
        assert pull_calendar(google.sctx, ref, google.client).complete
        window = sync_window(google.sctx, clock.now())
        kept = {
            (b.start.astimezone(UTC), b.end.astimezone(UTC))
            for b in BusyStore(google.sctx.consent.tables).all(ref.key)
        }
        assert kept == expected(case, start, window)
    finally:
        google.org.google.delete_event(google.email, created["id"])
