"""Which provider event carries which host-app event for which person, and what is owed.

Three tables (see docs/sync-design.md):

* ``eventrefs`` (PartitionKey ``org|app_event``, RowKey person): the mapping row. ``state`` is
  ``active`` (the provider holds our event ``provider_event_id``), ``gone`` (the person deleted
  it in their calendar; ``pushed_version`` is then the host-app version current when the
  deletion was seen) or ``deleted`` (we removed it: cancelled, or the person was unassigned).
  ``generation`` counts re-creations: the idempotency key of generation 0 is
  SHA-256(``org|app_event|person``) and later generations append ``|<n>``, so an event re-created
  after a deletion never reuses a key whose earlier event the provider may still remember.
  Rows are kept as tombstones while the host-app event exists, so the generation is not lost.
* ``eventindex`` (PartitionKey calendar key, RowKey provider event id): lets the pull path
  recognise our own events.
* ``pushqueue`` (PartitionKey calendar key, RowKey ``org|app_event``): a marker meaning "this
  calendar has push work for this event". A person without a connected calendar gets the marker
  in a person partition (:func:`person_partition`), drained when their calendar appears. Before
  a create the marker records the key being tried (``creating_key``): the provider may accept a
  create whose answer we never see, and the next attempt must know it (see ``push_plan.plan``).

Every write is ETag-guarded where a concurrent writer could lose work: markers are deleted only
if unchanged since read (a newer host-app change re-marks them), mapping rows are inserted or
updated with their ETag.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.errors import AlreadyExists, ConcurrencyConflict, NotFound
from shared.storage.keys import decode_key, encode_key, join_key
from shared.storage.tables import Entity, TableStore

EVENTREFS = "eventrefs"
EVENTINDEX = "eventindex"
PUSHQUEUE = "pushqueue"
_PERSON_PREFIX = "person:"


class RefState(StrEnum):
    ACTIVE = "active"
    # We are deleting the event: recorded before the provider call, so that a delete whose
    # answer was lost is not mistaken later for the person deleting the event.
    DELETING = "deleting"
    GONE = "gone"
    DELETED = "deleted"


@dataclass(frozen=True)
class EventRef:
    """One mapping row. ``etag`` is ``None`` until stored."""

    org: str
    app_event: str
    person: str
    calendar: str
    provider: str
    state: RefState
    pushed_version: int
    generation: int = 0
    provider_event_id: str = ""
    change_key: str = ""
    ical_uid: str = ""
    room_response: str = ""  # "" (no room), pending, accepted, declined, tentative
    person_response: str = ""
    slot: str = ""  # digest of the pushed times and room: a change makes the room answer again
    last_error: str = ""
    updated_at: datetime | None = None
    etag: str | None = None

    @property
    def live(self) -> bool:
        """The provider holds our event for this row."""
        return self.state in (RefState.ACTIVE, RefState.DELETING) and bool(self.provider_event_id)


def _ref_entity(ref: EventRef) -> Entity:
    return Entity(
        join_key(ref.org, ref.app_event),
        encode_key(ref.person),
        {
            "org": ref.org,
            "app_event": ref.app_event,
            "person": ref.person,
            "calendar": ref.calendar,
            "provider": ref.provider,
            "state": ref.state.value,
            "pushed_version": ref.pushed_version,
            "generation": ref.generation,
            "provider_event_id": ref.provider_event_id or None,
            "change_key": ref.change_key or None,
            "ical_uid": ref.ical_uid or None,
            "room_response": ref.room_response or None,
            "person_response": ref.person_response or None,
            "slot": ref.slot or None,
            "last_error": ref.last_error or None,
            "updated_at": ref.updated_at,
        },
        etag=ref.etag,
    )


def _int(entity: Entity, name: str) -> int:
    value = entity.fields.get(name)
    return value if isinstance(value, int) else 0


def _ref(entity: Entity) -> EventRef:
    updated = entity.fields.get("updated_at")
    return EventRef(
        org=entity.get_str("org"),
        app_event=entity.get_str("app_event"),
        person=entity.get_str("person"),
        calendar=entity.get_str("calendar"),
        provider=entity.get_str("provider"),
        state=RefState(entity.get_str("state")),
        pushed_version=_int(entity, "pushed_version"),
        generation=_int(entity, "generation"),
        provider_event_id=entity.get_str("provider_event_id"),
        change_key=entity.get_str("change_key"),
        ical_uid=entity.get_str("ical_uid"),
        room_response=entity.get_str("room_response"),
        person_response=entity.get_str("person_response"),
        slot=entity.get_str("slot"),
        last_error=entity.get_str("last_error"),
        updated_at=updated if isinstance(updated, datetime) else None,
        etag=entity.etag,
    )


class EventRefs:
    """The ``eventrefs`` table."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def get(self, org: str, app_event: str, person: str) -> EventRef | None:
        entity = self._tables.get(EVENTREFS, join_key(org, app_event), encode_key(person))
        return None if entity is None else _ref(entity)

    def for_event(self, org: str, app_event: str) -> list[EventRef]:
        return [_ref(e) for e in self._tables.query(EVENTREFS, join_key(org, app_event))]

    def save(self, ref: EventRef) -> EventRef:
        """Insert (``etag`` None) or replace if unchanged since read.

        Raises ``AlreadyExists``/``ConcurrencyConflict``/``NotFound`` when another writer got
        there first: the caller re-reads and plans again.
        """
        if ref.etag is None:
            stored = self._tables.insert(EVENTREFS, _ref_entity(ref))
        else:
            stored = self._tables.update(EVENTREFS, _ref_entity(ref))
        return replace(ref, etag=stored.etag)

    def mark_gone(
        self,
        org: str,
        app_event: str,
        person: str,
        provider_event_id: str,
        seen_version: int,
        now: datetime,
    ) -> EventRef | None:
        """The person deleted our event in their calendar (seen by pull or by a failed update).

        ``seen_version`` is the host-app event's version when the deletion was seen: push
        re-creates the event only for a later version (the host app changed it since). Returns
        the updated row, or ``None`` when the row no longer maps ``provider_event_id`` (already
        gone, re-created, or deleted by us): nothing to do then.
        """
        for _ in range(3):
            ref = self.get(org, app_event, person)
            if ref is None or not ref.live or ref.provider_event_id != provider_event_id:
                return None
            gone = replace(
                ref,
                state=RefState.GONE,
                pushed_version=max(ref.pushed_version, seen_version),
                room_response="",
                updated_at=now,
            )
            try:
                return self.save(gone)
            except (ConcurrencyConflict, NotFound):
                continue
        raise ConcurrencyConflict(f"mapping of {app_event} for {person} keeps changing")


@dataclass(frozen=True)
class IndexEntry:
    calendar: str
    provider_event_id: str
    org: str
    app_event: str
    person: str


class EventIndex:
    """The ``eventindex`` table: provider event id (per calendar) -> our event."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def put(self, entry: IndexEntry) -> None:
        self._tables.upsert(
            EVENTINDEX,
            Entity(
                entry.calendar,
                encode_key(entry.provider_event_id),
                {"org": entry.org, "app_event": entry.app_event, "person": entry.person},
            ),
        )

    def get(self, calendar: str, provider_event_id: str) -> IndexEntry | None:
        entity = self._tables.get(EVENTINDEX, calendar, encode_key(provider_event_id))
        if entity is None:
            return None
        return IndexEntry(
            calendar,
            provider_event_id,
            entity.get_str("org"),
            entity.get_str("app_event"),
            entity.get_str("person"),
        )

    def delete(self, calendar: str, provider_event_id: str) -> bool:
        return self._tables.delete(EVENTINDEX, calendar, encode_key(provider_event_id))


def person_partition(org: str, person: str) -> str:
    """The ``pushqueue`` partition of a person who has no connected calendar yet."""
    return _PERSON_PREFIX + join_key(org, person)


@dataclass(frozen=True)
class Marker:
    partition: str
    org: str
    app_event: str
    version: int  # the host-app version that caused the marker (informational)
    creating_key: str = ""  # a create was sent with this key and its outcome is not recorded
    creating_generation: int = 0
    etag: str | None = None

    @property
    def row_key(self) -> str:
        return join_key(self.org, self.app_event)


def _marker_entity(marker: Marker) -> Entity:
    return Entity(
        marker.partition,
        marker.row_key,
        {
            "org": marker.org,
            "app_event": marker.app_event,
            "version": marker.version,
            "creating_key": marker.creating_key or None,
            "creating_generation": marker.creating_generation,
        },
        etag=marker.etag,
    )


def _marker(entity: Entity) -> Marker:
    return Marker(
        partition=entity.partition_key,
        org=entity.get_str("org"),
        app_event=entity.get_str("app_event"),
        version=_int(entity, "version"),
        creating_key=entity.get_str("creating_key"),
        creating_generation=_int(entity, "creating_generation"),
        etag=entity.etag,
    )


class PushQueue:
    """The ``pushqueue`` table: per calendar (or person), the events owing a push."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def mark(self, partition: str, org: str, app_event: str, version: int) -> Marker:
        """Record push work. Overwrites an older marker on purpose: its ETag changes, so a
        worker holding the old one cannot delete the newer work (see :meth:`done`). A pending
        create attempt is kept, since its outcome is still unknown."""
        for _ in range(5):
            existing = self.get(partition, org, app_event)
            try:
                if existing is None:
                    marker = Marker(partition, org, app_event, version)
                    stored = self._tables.insert(PUSHQUEUE, _marker_entity(marker))
                else:
                    # ETag-guarded, so a create attempt noted meanwhile is not overwritten.
                    marker = replace(existing, version=max(version, existing.version))
                    stored = self._tables.update(PUSHQUEUE, _marker_entity(marker))
            except (AlreadyExists, ConcurrencyConflict, NotFound):
                continue
            return replace(marker, etag=stored.etag)
        raise ConcurrencyConflict(f"push marker of {app_event} keeps changing")

    def get(self, partition: str, org: str, app_event: str) -> Marker | None:
        entity = self._tables.get(PUSHQUEUE, partition, join_key(org, app_event))
        return None if entity is None else _marker(entity)

    def markers(self, partition: str) -> list[Marker]:
        return [_marker(e) for e in self._tables.query(PUSHQUEUE, partition)]

    def note_create(self, marker: Marker, key: str, generation: int) -> Marker:
        """Record, before sending it, the create we are about to try. ``ConcurrencyConflict``
        when the marker changed since read (the caller plans again)."""
        noted = replace(marker, creating_key=key, creating_generation=generation)
        stored = self._tables.update(PUSHQUEUE, _marker_entity(noted))
        return replace(noted, etag=stored.etag)

    def done(self, marker: Marker) -> bool:
        """Remove the marker if unchanged since read; ``False`` when newer work arrived."""
        try:
            self._tables.delete(PUSHQUEUE, marker.partition, marker.row_key, marker.etag)
        except ConcurrencyConflict:
            return False
        return True


def calendar_of_partition(partition: str) -> str | None:
    """The calendar key of a ``pushqueue`` partition, ``None`` for a person partition."""
    return None if partition.startswith(_PERSON_PREFIX) else partition


def person_of_partition(partition: str) -> tuple[str, str] | None:
    """``(org, person)`` of a person partition, else ``None``."""
    if not partition.startswith(_PERSON_PREFIX):
        return None
    org, _, person = partition.removeprefix(_PERSON_PREFIX).partition("|")
    return decode_key(org), decode_key(person)
