"""Google Calendar v3 through google-api-python-client against the simulator: idempotent writes
with client-supplied ids, etag conflicts, deletes, live reads, and the sync-token protocol."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.errors import CursorExpired, PreconditionFailed, ProviderNotFound
from shared.providers.base import Attendee, Change, EventDraft
from shared.providers.google.calendar import GoogleCalendarClient
from shared.providers.google.ids import EVENT_ID_PATTERN, event_id
from tests.providers.google_support import Org, make_org

pytestmark = pytest.mark.simulator

SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
WINDOW = (SOON - timedelta(days=2), SOON + timedelta(days=30))


@pytest.fixture
def org(simulator: Any) -> Iterator[Org]:
    yield from make_org(simulator)


@pytest.fixture
def ann(org: Org) -> Iterator[GoogleCalendarClient]:
    with org.calendar(org.ann) as client:
        yield client


def draft(key: str, hours: int = 0, **fields: Any) -> EventDraft:
    start = SOON + timedelta(hours=hours)
    values: dict[str, Any] = {
        "key": key,
        "app_ref": f"ref-{key}",
        "subject": f"Training {key}",
        "start": start,
        "end": start + timedelta(hours=1),
        "body": "Bring a laptop",
        "location": "HQ",
    }
    values.update(fields)
    return EventDraft(**values)


def external(org: Org, summary: str, hours: int) -> dict[str, Any]:
    """An event the person creates in Google Calendar themselves."""
    start = SOON + timedelta(hours=hours)
    return org.google.create_event(
        org.ann,
        {
            "summary": summary,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(minutes=30)).isoformat()},
        },
    )


def test_event_ids_are_deterministic_base32hex() -> None:
    assert event_id("org/evt-1/ann") == event_id("org/evt-1/ann")
    assert event_id("org/evt-1/ann") != event_id("org/evt-1/bob")
    assert EVENT_ID_PATTERN.match(event_id("x"))


def test_creating_the_same_host_event_twice_makes_one_calendar_event(
    org: Org, ann: GoogleCalendarClient
) -> None:
    first = ann.create_event(draft("k1"))
    again = ann.create_event(draft("k1"))
    assert again == first
    assert first.id == event_id("k1")
    assert [e["id"] for e in org.google.events(org.ann)] == [first.id]


def test_created_event_reads_back_with_our_marker_room_and_free_busy(
    org: Org, ann: GoogleCalendarClient
) -> None:
    people = (
        Attendee(email=f"lisbon@{org.domain}", name="Lisbon", kind="resource"),
        Attendee(email=f"admin@{org.domain}", kind="optional"),
    )
    written = ann.create_event(draft("k2", attendees=people, show_as="free"))
    view = ann.get_event(written.id)
    assert view is not None
    assert (view.subject, view.location, view.app_ref) == ("Training k2", "HQ", "ref-k2")
    assert view.start == SOON and view.end == SOON + timedelta(hours=1)
    assert view.show_as == "free"
    assert view.organizer == org.ann
    kinds = {a.email: a.kind for a in view.attendees}
    assert kinds == {f"lisbon@{org.domain}": "resource", f"admin@{org.domain}": "optional"}
    stored = org.google.events(org.ann)[0]
    assert stored["extendedProperties"]["private"] == {"calendarIntegrationRef": "ref-k2"}
    assert stored["transparency"] == "transparent"


def test_recreating_after_the_event_was_deleted_restores_it(
    org: Org, ann: GoogleCalendarClient
) -> None:
    written = ann.create_event(draft("k3"))
    ann.delete_event(written.id)
    restored = ann.create_event(draft("k3"))
    assert restored.id == written.id
    assert ann.get_event(written.id) is not None


def test_update_with_a_stale_etag_is_a_precondition_failure(
    org: Org, ann: GoogleCalendarClient
) -> None:
    written = ann.create_event(draft("k4"))
    moved = ann.update_event(written.id, draft("k4", hours=2), if_match=written.change_key)
    assert moved.change_key != written.change_key
    with pytest.raises(PreconditionFailed):
        ann.update_event(written.id, draft("k4", hours=3), if_match=written.change_key)
    view = ann.get_event(written.id)
    assert view is not None and view.start == SOON + timedelta(hours=2)


def test_updating_an_event_that_never_existed_is_not_found(ann: GoogleCalendarClient) -> None:
    with pytest.raises(ProviderNotFound):
        ann.update_event(event_id("never"), draft("never"))


def test_updating_an_event_the_person_deleted_is_not_found_and_does_not_revive_it(
    org: Org, ann: GoogleCalendarClient
) -> None:
    written = ann.create_event(draft("k7"))
    org.google.delete_event(org.ann, written.id)
    with pytest.raises(ProviderNotFound):
        ann.update_event(written.id, draft("k7", hours=4))
    assert ann.get_event(written.id) is None
    # With the etag we last wrote, the delete shows up as a conflict instead.
    with pytest.raises(PreconditionFailed):
        ann.update_event(written.id, draft("k7", hours=4), if_match=written.change_key)


def test_deleting_twice_is_fine_and_the_event_is_gone(ann: GoogleCalendarClient) -> None:
    written = ann.create_event(draft("k5"))
    ann.delete_event(written.id)
    ann.delete_event(written.id)  # 410 deleted
    ann.delete_event(event_id("never-created"))  # 404
    assert ann.get_event(written.id) is None


def test_agenda_lists_the_window_in_start_order(org: Org, ann: GoogleCalendarClient) -> None:
    external(org, "Dentist", hours=5)
    ann.create_event(draft("k6", hours=1))
    external(org, "Far away", hours=24 * 60)
    agenda = ann.events_between(SOON, SOON + timedelta(days=1))
    assert [e.subject for e in agenda] == ["Training k6", "Dentist"]
    assert agenda[1].app_ref is None
    assert len(ann.events_between(SOON, SOON + timedelta(days=1), limit=1)) == 1


def test_profile_names_the_token_owner(org: Org, ann: GoogleCalendarClient) -> None:
    me = ann.profile()
    assert (me.account, me.display_name) == (org.ann, "Ann Person")
    assert me.user_id.isdigit()


def _drain(
    client: GoogleCalendarClient, cursor: str | None, page_size: int = 2
) -> tuple[list[Change], str, int]:
    changes: list[Change] = []
    pages = 0
    while True:
        page = client.changes(cursor, *WINDOW, page_size=page_size)
        pages += 1
        changes += page.changes
        cursor = page.cursor
        if page.complete:
            return changes, cursor, pages


def test_full_sync_pages_then_incremental_sync_reports_moves_and_deletions(
    org: Org, ann: GoogleCalendarClient
) -> None:
    guest = (Attendee(email=f"admin@{org.domain}"),)
    ours = [ann.create_event(draft(f"s{i}", hours=i, attendees=guest)) for i in range(3)]
    dentist = external(org, "Dentist", hours=8)
    gym = external(org, "Gym", hours=9)
    external(org, "Outside the window", hours=24 * 90)

    first = ann.changes(None, *WINDOW, page_size=2)
    assert not first.complete and first.cursor.startswith("window|")
    changes, cursor, pages = _drain(ann, first.cursor)
    changes = first.changes + changes
    assert pages == 2
    assert cursor.startswith("changes|")
    assert {c.id for c in changes} == {*(w.id for w in ours), dentist["id"], gym["id"]}
    assert {c.app_ref for c in changes if c.id == ours[0].id} == {"ref-s0"}

    # Nothing happened: an incremental round is empty.
    quiet, cursor, _ = _drain(ann, cursor)
    assert quiet == []

    new_start = (SOON + timedelta(hours=12)).isoformat()
    new_end = (SOON + timedelta(hours=13)).isoformat()
    org.google.move_event(org.ann, ours[1].id, new_start, new_end)
    org.google.delete_event(org.ann, dentist["id"])
    org.google.decline(org.ann, ours[2].id, f"admin@{org.domain}")
    delta, cursor, _ = _drain(ann, cursor)
    by_id = {c.id: c for c in delta}
    assert set(by_id) == {ours[1].id, dentist["id"], ours[2].id}
    assert by_id[ours[1].id].start == SOON + timedelta(hours=12)
    assert by_id[ours[1].id].app_ref == "ref-s1"
    assert by_id[dentist["id"]].removed
    assert [(a.email, a.response) for a in by_id[ours[2].id].attendees] == [
        (f"admin@{org.domain}", "declined")
    ]


def test_invalidated_sync_token_expires_the_cursor(org: Org, ann: GoogleCalendarClient) -> None:
    ann.create_event(draft("c1"))
    _, cursor, _ = _drain(ann, None, page_size=10)
    org.google.invalidate_sync_tokens(org.ann)
    with pytest.raises(CursorExpired) as caught:
        ann.changes(cursor, *WINDOW)
    assert caught.value.provider_code == "fullSyncRequired"
    # Starting over works.
    assert _drain(ann, None, page_size=10)[0][0].app_ref == "ref-c1"


def test_a_cursor_we_did_not_write_is_treated_as_expired(ann: GoogleCalendarClient) -> None:
    with pytest.raises(CursorExpired):
        ann.changes("https://graph.microsoft.com/delta?token=x", *WINDOW)


def test_all_day_events_are_the_whole_local_day_of_the_calendars_zone(
    org: Org, ann: GoogleCalendarClient
) -> None:
    """A day off in a UTC+2 calendar is busy from local midnight to local midnight, not from
    02:00 to 02:00 (all-day ``date`` values are read in the calendar's zone)."""
    org.google.set_time_zone(org.ann, "Europe/Athens")
    day = (SOON + timedelta(days=3)).date()
    created = org.google.create_event(
        org.ann,
        {
            "summary": "Day off",
            "start": {"date": day.isoformat()},
            "end": {"date": (day + timedelta(days=1)).isoformat()},
        },
    )
    athens = ZoneInfo("Europe/Athens")
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=athens)
    changes, _, _ = _drain(ann, None, page_size=50)
    (seen,) = [c for c in changes if c.id == created["id"]]
    assert (seen.start, seen.end) == (midnight, midnight + timedelta(days=1))
    # A fresh client reads the calendar's zone itself when it gets the event alone.
    with org.calendar(org.ann) as fresh:
        view = fresh.get_event(created["id"])
    assert view is not None and view.is_all_day
    assert (view.start, view.end) == (midnight, midnight + timedelta(days=1))


def test_times_are_written_in_the_events_own_zone(org: Org, ann: GoogleCalendarClient) -> None:
    start = datetime(2031, 3, 27, 8, tzinfo=UTC)  # 09:00 in Amsterdam (UTC+1)
    written = ann.create_event(
        draft("tz1", start=start, end=start + timedelta(hours=1), time_zone="Europe/Amsterdam")
    )
    (stored,) = [e for e in org.google.events(org.ann) if e["id"] == written.id]
    assert stored["start"] == {"dateTime": "2031-03-27T09:00:00", "timeZone": "Europe/Amsterdam"}
