"""Host-app events: what the host app wants in its people's calendars, versioned.

Table ``appevents``: PartitionKey = org, RowKey = the host app's event id (both key-encoded).
A row is the host app's own data (title, times, people, room), kept so that a push that could
not finish now is retried by the cycle; nothing in it was read from a provider.

Versions make retries idempotent: storing the same content again creates no new version, and a
change (or a cancellation) is ``version + 1``. ``removed`` accumulates the people who were
assigned in an earlier version and are not any more: they must lose the event, and keep being
"affected" by later writes until then (a push for them that failed is still owed). People whose
mapping says nothing is in their calendar cost a table read per write, no provider call.

A row this code cannot use (written before a range check existed, or damaged) never fails the
organisation: readers log it and skip it, ``put`` replaces it with the new content, and ``cancel``
refuses with 409 ``event_unreadable`` (a ``PUT`` repairs it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from shared.errors import AlreadyExists, ConcurrencyConflict, Conflict, NotFound
from shared.storage.keys import encode_key
from shared.storage.tables import Entity, TableStore

log = logging.getLogger(__name__)

APPEVENTS = "appevents"
_WRITE_ATTEMPTS = 5  # optimistic-concurrency retries against a concurrent writer


class AppEventStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class OccurrenceChange:
    """The host app's change of one occurrence of its series, named by its original start:
    new times, or cancelled (``start``/``end`` ``None``)."""

    original_start: datetime
    start: datetime | None = None
    end: datetime | None = None

    @property
    def cancelled(self) -> bool:
        return self.start is None

    def as_json(self) -> dict[str, str | None]:
        return {
            "original_start": self.original_start.astimezone(UTC).isoformat(),
            "start": self.start.astimezone(UTC).isoformat() if self.start else None,
            "end": self.end.astimezone(UTC).isoformat() if self.end else None,
        }

    @staticmethod
    def from_json(raw: dict[str, str | None]) -> OccurrenceChange:
        def when(name: str) -> datetime | None:
            value = raw.get(name)
            return datetime.fromisoformat(value) if value else None

        original = when("original_start")
        if original is None:
            raise ValueError("an occurrence change without original_start")
        return OccurrenceChange(original, when("start"), when("end"))


@dataclass(frozen=True)
class EventContent:
    """What the host app says about its event. Times are timezone-aware (stored in UTC)."""

    subject: str
    start: datetime
    end: datetime
    people: tuple[str, ...]
    body: str = ""
    location: str = ""
    room: str | None = None  # the host app's room id (``rooms`` table)
    # A series (one RRULE of shared.recurrence's subset; start/end are its first occurrence),
    # the event's IANA zone (the wall-clock time it keeps), whole local days.
    recurrence: str | None = None
    time_zone: str = "UTC"
    all_day: bool = False
    occurrences: tuple[OccurrenceChange, ...] = ()  # changes of single occurrences

    def normalised(self) -> EventContent:
        """UTC times and people in a stable order without repeats, so equal content compares
        equal whatever order or offset the host app used."""
        return replace(
            self,
            start=self.start.astimezone(UTC),
            end=self.end.astimezone(UTC),
            people=tuple(sorted(set(self.people))),
            occurrences=tuple(
                sorted(
                    (OccurrenceChange.from_json(o.as_json()) for o in self.occurrences),
                    key=lambda o: o.original_start,
                )
            ),
        )


@dataclass(frozen=True)
class AppEvent:
    org: str
    id: str
    content: EventContent
    status: AppEventStatus
    version: int
    updated_at: datetime
    removed: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.status is AppEventStatus.ACTIVE

    def wants(self, person: str) -> bool:
        """Whether ``person``'s calendar should hold this event now."""
        return self.active and person in self.content.people

    @property
    def affected(self) -> tuple[str, ...]:
        """Everyone whose calendar may need a write: the assigned and the removed."""
        return tuple(sorted(set(self.content.people) | set(self.removed)))


@dataclass(frozen=True)
class Stored:
    event: AppEvent
    created: bool  # first version of this event
    changed: bool  # a new version was written (False: an identical retry)


def _entity(event: AppEvent, etag: str | None = None) -> Entity:
    c = event.content
    return Entity(
        encode_key(event.org),
        encode_key(event.id),
        {
            "org": event.org,
            "app_event": event.id,
            "subject": c.subject,
            "body": c.body,
            "location": c.location,
            "start": c.start,
            "end": c.end,
            "people": json.dumps(list(c.people)),
            "room": c.room,
            "recurrence": c.recurrence,
            "time_zone": c.time_zone,
            "all_day": c.all_day,
            "occurrences": json.dumps([o.as_json() for o in c.occurrences]) or None,
            "status": event.status.value,
            "version": event.version,
            "removed": json.dumps(list(event.removed)),
            "updated_at": event.updated_at,
        },
        etag=etag,
    )


def _time(entity: Entity, name: str) -> datetime:
    value = entity.fields.get(name)
    if not isinstance(value, datetime):
        raise ValueError(f"app event {entity.row_key} has no {name}")
    return value.astimezone(UTC)


def _event(entity: Entity) -> AppEvent:
    f = entity.fields
    version = f.get("version")
    return AppEvent(
        org=entity.get_str("org"),
        id=entity.get_str("app_event"),
        content=EventContent(
            subject=entity.get_str("subject"),
            body=entity.get_str("body"),
            location=entity.get_str("location"),
            start=_time(entity, "start"),
            end=_time(entity, "end"),
            people=tuple(json.loads(entity.get_str("people") or "[]")),
            room=entity.get_str("room") or None,
            recurrence=entity.get_str("recurrence") or None,
            time_zone=entity.get_str("time_zone") or "UTC",
            all_day=f.get("all_day") is True,
            occurrences=tuple(
                OccurrenceChange.from_json(o)
                for o in json.loads(entity.get_str("occurrences") or "[]")
            ),
        ),
        status=AppEventStatus(entity.get_str("status")),
        version=version if isinstance(version, int) else 0,
        updated_at=_time(entity, "updated_at"),
        removed=tuple(json.loads(entity.get_str("removed") or "[]")),
    )


def usable(entity: Entity) -> AppEvent | None:
    """The event of ``entity``, or ``None`` (logged, without content) when the row is unusable."""
    try:
        return _event(entity)
    except (ValueError, TypeError, OverflowError) as exc:
        log.warning(
            "skipping unusable appevents row %s/%s: %s",
            entity.partition_key,
            entity.row_key,
            type(exc).__name__,
        )
        return None


def _stored_version(entity: Entity) -> int:
    version = entity.fields.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


class AppEvents:
    """Reads and writes the ``appevents`` table with optimistic concurrency."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def _row(self, org: str, app_event: str) -> Entity | None:
        return self._tables.get(APPEVENTS, encode_key(org), encode_key(app_event))

    def get(self, org: str, app_event: str) -> AppEvent | None:
        entity = self._row(org, app_event)
        return None if entity is None else usable(entity)

    def active_for(self, org: str) -> list[AppEvent]:
        """The organisation's active events (a late connection's catch-up reads these)."""
        rows = self._tables.query(APPEVENTS, encode_key(org), where={"status": "active"})
        return [event for event in map(usable, rows) if event is not None]

    def put(self, org: str, app_event: str, content: EventContent, now: datetime) -> Stored:
        """Create or change the event; identical content (and still active) writes nothing."""
        wanted = content.normalised()
        for _ in range(_WRITE_ATTEMPTS):
            entity = self._row(org, app_event)
            if entity is None:
                event = AppEvent(org, app_event, wanted, AppEventStatus.ACTIVE, 1, now)
                try:
                    self._tables.insert(APPEVENTS, _entity(event))
                except AlreadyExists:
                    continue
                return Stored(event, created=True, changed=True)
            current = usable(entity)
            if current is None:
                # Replace the unusable row; nobody can be owed a removal we cannot read.
                event = AppEvent(
                    org, app_event, wanted, AppEventStatus.ACTIVE, _stored_version(entity) + 1, now
                )
                if self._replace(event, entity.etag):
                    return Stored(event, created=False, changed=True)
                continue
            if current.active and current.content == wanted:
                return Stored(current, created=False, changed=False)
            removed = (set(current.content.people) | set(current.removed)) - set(wanted.people)
            event = AppEvent(
                org,
                app_event,
                wanted,
                AppEventStatus.ACTIVE,
                current.version + 1,
                now,
                tuple(sorted(removed)),
            )
            if self._replace(event, entity.etag):
                return Stored(event, created=False, changed=True)
        raise ConcurrencyConflict(f"event {app_event} keeps changing; retry the request")

    def cancel(self, org: str, app_event: str, now: datetime) -> Stored:
        """Mark the event cancelled (``version + 1``); cancelling again writes nothing."""
        for _ in range(_WRITE_ATTEMPTS):
            entity = self._row(org, app_event)
            if entity is None:
                raise NotFound(f"event {app_event} does not exist", code="event_not_found")
            current = usable(entity)
            if current is None:
                raise Conflict(
                    f"event {app_event} is stored in a form that cannot be read; "
                    "PUT the event again to repair it",
                    code="event_unreadable",
                )
            if not current.active:
                return Stored(current, created=False, changed=False)
            event = replace(
                current,
                status=AppEventStatus.CANCELLED,
                version=current.version + 1,
                updated_at=now,
            )
            if self._replace(event, entity.etag):
                return Stored(event, created=False, changed=True)
        raise ConcurrencyConflict(f"event {app_event} keeps changing; retry the request")

    def _replace(self, event: AppEvent, etag: str | None) -> bool:
        try:
            self._tables.update(APPEVENTS, _entity(event, etag))
        except (ConcurrencyConflict, NotFound):
            return False
        return True
