"""The push path's stores on the in-memory table store: people, app events, mappings, markers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.errors import AlreadyExists, ConcurrencyConflict, NotFound
from shared.storage.memory_tables import MemoryTableStore
from shared.sync.appevents import AppEvents, AppEventStatus, EventContent
from shared.sync.mappings import (
    EventIndex,
    EventRef,
    EventRefs,
    IndexEntry,
    PushQueue,
    RefState,
    calendar_of_partition,
    person_of_partition,
    person_partition,
)
from shared.sync.people import People, Person

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORG = "contoso/eu"  # a character Table storage forbids in keys


def content(hour: int = 0, people: tuple[str, ...] = ("ana", "ben")) -> EventContent:
    return EventContent("Shift", T0 + timedelta(hours=hour), T0 + timedelta(hours=hour + 1), people)


@pytest.fixture
def tables() -> MemoryTableStore:
    return MemoryTableStore()


def test_people_are_upserted_in_batches_and_the_last_occurrence_wins(
    tables: MemoryTableStore,
) -> None:
    people = People(tables)
    batch = [Person(ORG, f"p{i}", f"Person {i}", f"p{i}@contoso.example") for i in range(250)]
    batch.append(Person(ORG, "p0", "Renamed", "p0@contoso.example"))
    assert people.put_many(ORG, batch, T0) == 250
    assert len(people.for_org(ORG)) == 250
    found = people.get(ORG, "p0")
    assert found is not None and (found.name, found.updated_at) == ("Renamed", T0)
    assert people.get("other", "p0") is None
    with pytest.raises(ValueError, match="organisation"):
        people.put_many(ORG, [Person("other", "x", "X", "x@o.example")], T0)


def test_the_same_content_again_makes_no_new_version(tables: MemoryTableStore) -> None:
    events = AppEvents(tables)
    first = events.put(ORG, "e/1", content(), T0)
    assert (first.created, first.changed, first.event.version) == (True, True, 1)
    # Same instant in another offset, people in another order, a repeated id: the same content.
    plus_two = timezone(timedelta(hours=2))
    same = EventContent(
        "Shift",
        T0.astimezone(plus_two),
        (T0 + timedelta(hours=1)).astimezone(plus_two),
        ("ben", "ana", "ben"),
    )
    again = events.put(ORG, "e/1", same, T0 + timedelta(minutes=1))
    assert (again.created, again.changed, again.event.version) == (False, False, 1)


def test_a_change_is_a_new_version_and_removed_people_are_remembered(
    tables: MemoryTableStore,
) -> None:
    events = AppEvents(tables)
    events.put(ORG, "e1", content(people=("ana", "ben", "cleo")), T0)
    second = events.put(ORG, "e1", content(people=("ana",)), T0)
    assert (second.event.version, second.event.removed) == (2, ("ben", "cleo"))
    third = events.put(ORG, "e1", content(hour=1, people=("ana", "ben")), T0)
    assert third.event.removed == ("cleo",)
    assert third.event.affected == ("ana", "ben", "cleo")
    assert third.event.wants("ben") and not third.event.wants("cleo")


def test_cancelling_is_a_version_once_and_a_later_put_revives(tables: MemoryTableStore) -> None:
    events = AppEvents(tables)
    events.put(ORG, "e1", content(), T0)
    cancelled = events.cancel(ORG, "e1", T0)
    assert (cancelled.event.status, cancelled.event.version) == (AppEventStatus.CANCELLED, 2)
    assert not cancelled.event.wants("ana")
    assert events.cancel(ORG, "e1", T0).changed is False
    assert events.active_for(ORG) == []
    revived = events.put(ORG, "e1", content(), T0)
    assert (revived.event.status, revived.event.version) == (AppEventStatus.ACTIVE, 3)
    assert [e.id for e in events.active_for(ORG)] == ["e1"]
    with pytest.raises(NotFound):
        events.cancel(ORG, "unknown", T0)


def mapping(**changes: object) -> EventRef:
    base = EventRef(ORG, "e1", "ana", "int-1:ana", "microsoft", RefState.ACTIVE, 1)
    return EventRef(**{**base.__dict__, "provider_event_id": "AAMk=", **changes})  # type: ignore[arg-type]


def test_mapping_rows_are_written_with_optimistic_concurrency(tables: MemoryTableStore) -> None:
    refs = EventRefs(tables)
    saved = refs.save(mapping(change_key="ck1"))
    with pytest.raises(AlreadyExists):
        refs.save(mapping())
    refs.save(EventRef(**{**saved.__dict__, "change_key": "ck2"}))
    with pytest.raises(ConcurrencyConflict):
        refs.save(EventRef(**{**saved.__dict__, "change_key": "stale"}))
    found = refs.get(ORG, "e1", "ana")
    assert found is not None and found.change_key == "ck2" and found.live
    assert [r.person for r in refs.for_event(ORG, "e1")] == ["ana"]


def test_a_deletion_in_the_calendar_marks_only_the_live_row_it_names(
    tables: MemoryTableStore,
) -> None:
    refs = EventRefs(tables)
    refs.save(mapping(room_response="accepted"))
    assert refs.mark_gone(ORG, "e1", "ana", "other-id", 5, T0) is None
    gone = refs.mark_gone(ORG, "e1", "ana", "AAMk=", 5, T0)
    assert gone is not None
    assert (gone.state, gone.pushed_version, gone.room_response) == (RefState.GONE, 5, "")
    assert not gone.live
    assert refs.mark_gone(ORG, "e1", "ana", "AAMk=", 6, T0) is None  # already gone


def test_the_index_finds_our_events_by_provider_id(tables: MemoryTableStore) -> None:
    index = EventIndex(tables)
    index.put(IndexEntry("int-1:ana", "id/with?odd#chars", ORG, "e1", "ana"))
    found = index.get("int-1:ana", "id/with?odd#chars")
    assert found is not None and (found.org, found.app_event, found.person) == (ORG, "e1", "ana")
    assert index.delete("int-1:ana", "id/with?odd#chars")
    assert index.get("int-1:ana", "id/with?odd#chars") is None


def test_a_marker_changed_since_read_is_not_removed(tables: MemoryTableStore) -> None:
    queue = PushQueue(tables)
    seen = queue.mark("int-1:ana", ORG, "e1", 1)
    queue.mark("int-1:ana", ORG, "e1", 2)  # the host app changed the event meanwhile
    assert queue.done(seen) is False
    (current,) = queue.markers("int-1:ana")
    assert current.version == 2
    assert queue.done(current) is True
    assert queue.markers("int-1:ana") == []


def test_a_noted_create_attempt_survives_new_work(tables: MemoryTableStore) -> None:
    queue = PushQueue(tables)
    marker = queue.mark("int-1:ana", ORG, "e1", 1)
    noted = queue.note_create(marker, "key-0", 0)
    with pytest.raises(ConcurrencyConflict):
        queue.note_create(marker, "key-0", 0)  # a stale read cannot overwrite
    queue.mark("int-1:ana", ORG, "e1", 2)
    found = queue.get("int-1:ana", ORG, "e1")
    assert found is not None
    assert (found.creating_key, found.creating_generation, found.version) == ("key-0", 0, 2)
    assert found.etag != noted.etag


def test_person_partitions_round_trip_and_are_not_calendars() -> None:
    partition = person_partition("org|a/b", "person|1")
    assert calendar_of_partition(partition) is None
    assert person_of_partition(partition) == ("org|a/b", "person|1")
    assert calendar_of_partition("int-1:ana") == "int-1:ana"
    assert person_of_partition("int-1:ana") is None
