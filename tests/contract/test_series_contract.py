"""Host-app series and all-day events through every CalendarClient (the in-memory twin, Graph
and Google on the simulator): one series per calendar, written in the event's own zone, so the
wall-clock time holds across a daylight-saving change; the whole series changed, ended early
and deleted; an all-day event across the change is the whole local days."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.errors import ProviderNotFound
from shared.providers.base import CalendarClient, EventDraft
from tests.contract import test_calendar_client_contract as contract
from tests.providers.microsoft_support import org_fixture, sim_fixture  # noqa: F401 (fixtures)

harness_fixture = contract.harness_fixture
client_fixture = contract.client_fixture
Harness = contract.Harness

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# Europe moves to summer time on Sunday 28 March 2027.
FIRST = datetime(2027, 3, 15, 9, tzinfo=AMSTERDAM)
AROUND_DST = (datetime(2027, 3, 14, tzinfo=UTC), datetime(2027, 4, 10, tzinfo=UTC))


def series(**changes: Any) -> EventDraft:
    values: dict[str, Any] = {
        "key": "k-" + uuid.uuid4().hex,
        "app_ref": "contoso|weekly-shift",
        "subject": "Front desk",
        "start": FIRST,
        "end": FIRST + timedelta(hours=2),
        "time_zone": "Europe/Amsterdam",
        "recurrence": "RRULE:FREQ=WEEKLY;BYDAY=MO",
    }
    values.update(changes)
    return EventDraft(**values)


def local_starts(client: CalendarClient) -> list[str]:
    views = client.events_between(*AROUND_DST)
    return [v.start.astimezone(AMSTERDAM).strftime("%m-%d %H:%M") for v in views]


def test_a_weekly_series_is_one_event_and_keeps_0900_local_across_dst(
    harness: Harness, client: CalendarClient
) -> None:
    written = client.create_event(series())
    assert harness.live_ids() == {written.id}
    assert local_starts(client) == ["03-15 09:00", "03-22 09:00", "03-29 09:00", "04-05 09:00"]
    utc_hours = [v.start.astimezone(UTC).hour for v in client.events_between(*AROUND_DST)]
    assert utc_hours == [8, 8, 7, 7]


def test_changing_ending_and_deleting_the_whole_series(
    harness: Harness, client: CalendarClient
) -> None:
    draft = series()
    written = client.create_event(draft)
    assert client.create_event(draft).id == written.id  # idempotent by key: still one series
    assert harness.live_ids() == {written.id}
    moved = series(key=draft.key, start=FIRST + timedelta(hours=1), end=FIRST + timedelta(hours=3))
    client.update_event(written.id, moved)
    assert local_starts(client) == ["03-15 10:00", "03-22 10:00", "03-29 10:00", "04-05 10:00"]
    ended = series(
        key=draft.key,
        start=FIRST + timedelta(hours=1),
        end=FIRST + timedelta(hours=3),
        recurrence="RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20270322",
    )
    client.update_event(written.id, ended)
    assert local_starts(client) == ["03-15 10:00", "03-22 10:00"]
    assert harness.live_ids() == {written.id}
    client.delete_event(written.id)
    assert client.events_between(*AROUND_DST) == []


def test_an_all_day_event_across_dst_is_the_whole_local_days(
    harness: Harness, client: CalendarClient
) -> None:
    start = datetime(2027, 3, 27, tzinfo=AMSTERDAM)
    client.create_event(
        series(start=start, end=start + timedelta(days=2), recurrence=None, all_day=True)
    )
    (view,) = client.events_between(*AROUND_DST)
    assert view.is_all_day
    assert view.start == start
    assert view.end == datetime(2027, 3, 29, tzinfo=AMSTERDAM)
    assert (view.end - view.start.astimezone(UTC)).total_seconds() == 47 * 3600


def test_one_occurrence_moved_and_one_cancelled_then_the_series_ends_early(
    harness: Harness, client: CalendarClient
) -> None:
    draft = series()
    written = client.create_event(draft)
    second, third = FIRST + timedelta(days=7), FIRST + timedelta(days=14)
    moved = series(
        key=draft.key, start=second + timedelta(hours=5), end=second + timedelta(hours=7)
    )
    for _ in range(2):  # a retried edit is the same exception
        client.update_occurrence(written.id, second, moved)
    for _ in range(2):  # cancelling again is done
        client.cancel_occurrence(written.id, third)
    assert local_starts(client) == ["03-15 09:00", "03-22 14:00", "04-05 09:00"]
    assert harness.live_ids() >= {written.id}
    try:
        client.update_occurrence(written.id, third, moved)
    except ProviderNotFound:
        pass
    else:
        raise AssertionError("a cancelled occurrence cannot be edited")
    # Changing the whole series' title keeps the exceptions.
    client.update_event(written.id, series(key=draft.key, subject="Front desk (new desk)"))
    assert local_starts(client) == ["03-15 09:00", "03-22 14:00", "04-05 09:00"]
    # Ending it after the first occurrence drops the later occurrences and their exceptions.
    client.update_event(
        written.id, series(key=draft.key, recurrence="RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20270316")
    )
    assert local_starts(client) == ["03-15 09:00"]
    client.delete_event(written.id)
    assert client.events_between(*AROUND_DST) == []
    client.cancel_occurrence(written.id, FIRST)  # the series is gone: done
