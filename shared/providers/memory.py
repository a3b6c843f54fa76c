"""An in-memory :class:`~shared.providers.base.CalendarClient`: a twin of the provider adapters
for unit tests.

It passes the same contract suite as ``GraphCalendarClient`` and ``GoogleCalendarClient`` on
the simulator (``tests/contract/test_calendar_client_contract.py``), so a unit test that drives
the sync engine against it exercises the semantics the real providers share: creates idempotent
by ``draft.key``, change keys that change on every write, ``If-Match``, deletes where gone is
done, change pages with cursors that can expire, subscriptions and rooms.

:class:`MemoryCalendarBackend` holds the calendars, so several clients (one per worker, as in
production) and "the person in Outlook or Google Calendar" (``person_creates``,
``person_edits``, ``person_deletes``) act on one store. On top of the shared contract it has
explicit knobs for what the environment does and the contract cannot pin down:

* ``dedupe``: what a repeated create key does once its event was deleted. ``"graph"``: the key
  is forgotten and a new event is made (what the simulated Graph does with ``transactionId``);
  ``"google"``: the id is reserved and the adapter restores the event with the draft's content
  (Calendar v3 keeps deleted ids; an update restores them); ``"remembering"``: the deleted event
  is answered and nothing is created (what Graph's ``transactionId`` *might* do; the reason the
  push engine re-creates with a new generation's key).
* :meth:`~MemoryCalendarBackend.fail_next`: scripted faults for the next calls on a calendar:
  ``"throttle"`` (``Throttled`` with ``retry_after``, nothing applied), ``"unavailable"``
  (``ProviderUnavailable``, nothing applied), ``"lost"`` (the call is applied but its answer never
  arrives: ``ProviderUnavailable``), ``"ok"``.
* :meth:`~MemoryCalendarBackend.set_throttling`: every call throttled until cleared.

Series (``EventDraft.recurrence``) are expanded by :meth:`MemoryCalendarClient.events_between`
with python-dateutil, exceptions and cancelled occurrences applied; change pages report the
series as one event (the engine's handling of expanded occurrences is tested against the
simulator).

Thread-safe: one lock guards the whole store.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeVar

from shared import recurrence
from shared.errors import (
    CursorExpired,
    PreconditionFailed,
    ProviderDenied,
    ProviderNotFound,
    ProviderUnavailable,
    Throttled,
)
from shared.providers.base import (
    Attendee,
    CalendarClient,
    Change,
    ChangePage,
    EventDraft,
    EventView,
    Profile,
    RoomInfo,
    ShowAs,
    Subscription,
    WrittenEvent,
)

PROVIDER = "memory"
Dedupe = Literal["graph", "google", "remembering"]
Fault = Literal["ok", "throttle", "unavailable", "lost"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class StoredEvent:
    """An event as the backend holds it (what the test inspects, beyond the client's views)."""

    id: str
    key: str  # the create key ("" for events the person made)
    app_ref: str | None
    subject: str
    start: datetime
    end: datetime
    change_key: str
    seq: int  # the calendar's change sequence number of the last write (change pages)
    body: str = ""
    location: str = ""
    attendees: tuple[Attendee, ...] = ()
    show_as: ShowAs = "busy"
    deleted: bool = False
    recurrence: str | None = None  # a series (expanded by events_between)
    time_zone: str = "UTC"
    all_day: bool = False
    # Exceptions of a series: original start (UTC) -> new (start, end), or None (cancelled).
    overrides: tuple[tuple[datetime, tuple[datetime, datetime] | None], ...] = ()


@dataclass
class _Calendar:
    email: str
    display_name: str
    user_id: str
    events: dict[str, StoredEvent] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    epoch: int = 0  # bumped to invalidate every cursor (Graph 410, Google fullSyncRequired)
    faults: list[Fault] = field(default_factory=list)
    throttle: float | None = None


class MemoryCalendarBackend:
    """The calendars of one simulated suite, their rooms and subscriptions.

    Args:
        dedupe: what a repeated create key answers after its event was deleted (module docstring).
        retry_after: the ``Throttled.retry_after`` of a scripted ``"throttle"`` fault.
    """

    def __init__(self, *, dedupe: Dedupe = "graph", retry_after: float = 30.0) -> None:
        self.dedupe: Dedupe = dedupe
        self.retry_after = retry_after
        self._calendars: dict[str, _Calendar] = {}
        self._rooms: list[RoomInfo] = []
        self._subscriptions: dict[str, tuple[str, Subscription]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # --- set-up ------------------------------------------------------------------------------
    def add_calendar(self, email: str, display_name: str = "", user_id: str = "") -> None:
        """Create ``email``'s calendar (idempotent)."""
        with self._lock:
            if email not in self._calendars:
                owner = user_id or uuid.uuid5(uuid.NAMESPACE_URL, email).hex
                self._calendars[email] = _Calendar(email, display_name, owner)

    def add_room(self, room: RoomInfo) -> None:
        with self._lock:
            self._rooms.append(room)

    def client(self, email: str, *, may_read_rooms: bool = False) -> MemoryCalendarClient:
        """A client for ``email``'s calendar (which must exist)."""
        return MemoryCalendarClient(self, email, may_read_rooms=may_read_rooms)

    # --- knobs -------------------------------------------------------------------------------
    def fail_next(self, email: str, *faults: Fault) -> None:
        """Script the outcomes of the next calls on ``email``'s calendar, one per call."""
        with self._lock:
            self._cal(email).faults.extend(faults)

    def clear_faults(self, email: str) -> None:
        with self._lock:
            self._cal(email).faults.clear()

    def set_throttling(self, email: str, retry_after: float | None) -> None:
        """Throttle every call on ``email``'s calendar (``None``: stop)."""
        with self._lock:
            self._cal(email).throttle = retry_after

    def invalidate_cursors(self, email: str) -> None:
        """Every cursor of the calendar answers ``CursorExpired`` from now on."""
        with self._lock:
            self._cal(email).epoch += 1

    # --- the person, in their calendar app ---------------------------------------------------
    def person_creates(self, email: str, subject: str, start: datetime, end: datetime) -> str:
        with self._lock:
            cal = self._cal(email)
            event = self._stamp(
                cal, StoredEvent(self._new_id(), "", None, subject, start, end, "", 0)
            )
            return event.id

    def person_edits(
        self,
        email: str,
        event_id: str,
        *,
        subject: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        """Edit (rename and/or move) a live event; ``ProviderNotFound`` when there is none."""
        with self._lock:
            cal = self._cal(email)
            event = self._live(cal, event_id)
            self._stamp(
                cal,
                dataclasses.replace(
                    event,
                    subject=event.subject if subject is None else subject,
                    start=event.start if start is None else start,
                    end=event.end if end is None else end,
                ),
            )

    def person_deletes(self, email: str, event_id: str) -> None:
        with self._lock:
            cal = self._cal(email)
            self._stamp(cal, dataclasses.replace(self._live(cal, event_id), deleted=True))

    # --- inspection --------------------------------------------------------------------------
    def live(self, email: str) -> list[StoredEvent]:
        """The calendar's live events, ordered by start."""
        with self._lock:
            events = self._cal(email).events.values()
            return sorted((e for e in events if not e.deleted), key=lambda e: (e.start, e.id))

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return [sub for _, sub in self._subscriptions.values()]

    # --- internals (used by MemoryCalendarClient) --------------------------------------------
    def _cal(self, email: str) -> _Calendar:
        try:
            return self._calendars[email]
        except KeyError:
            raise ProviderNotFound(f"no calendar {email}", provider=PROVIDER) from None

    def _new_id(self) -> str:
        return f"mem-{next(self._ids)}"

    def _stamp(self, cal: _Calendar, event: StoredEvent) -> StoredEvent:
        # Every write gets a new change key and the next sequence number, as Graph's changeKey
        # and Google's etag change on every write.
        cal.seq += 1
        stamped = dataclasses.replace(event, change_key=f"ck-{uuid.uuid4().hex[:12]}", seq=cal.seq)
        cal.events[event.id] = stamped
        return stamped

    @staticmethod
    def _live(cal: _Calendar, event_id: str) -> StoredEvent:
        event = cal.events.get(event_id)
        if event is None or event.deleted:
            raise ProviderNotFound(f"no event {event_id}", provider=PROVIDER)
        return event

    def _call(self, email: str, action: Callable[[_Calendar], _T]) -> _T:
        """Run one provider call under the lock, applying the calendar's faults."""
        with self._lock:
            cal = self._cal(email)
            if cal.throttle is not None:
                raise Throttled(provider=PROVIDER, retry_after=cal.throttle)
            fault = cal.faults.pop(0) if cal.faults else "ok"
            if fault == "throttle":
                raise Throttled(provider=PROVIDER, retry_after=self.retry_after)
            if fault == "unavailable":
                raise ProviderUnavailable("service unavailable", provider=PROVIDER)
            result = action(cal)
            if fault == "lost":  # applied, but the answer never came back
                raise ProviderUnavailable("connection reset", provider=PROVIDER)
            return result

    def _rooms_list(self) -> list[RoomInfo]:
        return list(self._rooms)

    def _subscribe(self, email: str, sub: Subscription) -> Subscription:
        self._subscriptions[sub.id] = (email, sub)
        return sub

    def _renew(self, sub_id: str, expires_at: datetime) -> Subscription:
        if sub_id not in self._subscriptions:
            raise ProviderNotFound(f"no subscription {sub_id}", provider=PROVIDER)
        email, sub = self._subscriptions[sub_id]
        renewed = dataclasses.replace(sub, expires_at=expires_at)
        self._subscriptions[sub_id] = (email, renewed)
        return renewed

    def _unsubscribe(self, sub_id: str) -> None:
        self._subscriptions.pop(sub_id, None)


def _occurrences(
    event: StoredEvent, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """A series' occurrences overlapping the window, its exceptions applied."""
    assert event.recurrence is not None
    overrides = dict(event.overrides)
    # Exceptions may have moved into the window from an original start outside it.
    reach = timedelta(days=31)
    found = []
    for begin, finish in recurrence.occurrences(
        event.recurrence, event.start, event.end, event.time_zone, start - reach, end + reach
    ):
        if begin in overrides:
            moved = overrides[begin]
            if moved is None:
                continue
            begin, finish = moved[0].astimezone(UTC), moved[1].astimezone(UTC)
        if begin < end and finish > start:
            found.append((begin, finish))
    return sorted(found)


def _overlaps(event: StoredEvent, start: datetime, end: datetime) -> bool:
    return event.start < end and event.end > start


def _view(cal: _Calendar, event: StoredEvent) -> EventView:
    return EventView(
        id=event.id,
        subject=event.subject,
        start=event.start,
        end=event.end,
        location=event.location,
        organizer=cal.email,
        attendees=event.attendees,
        show_as=event.show_as,
        ical_uid=f"{event.id}@memory",
        change_key=event.change_key,
        app_ref=event.app_ref,
        is_all_day=event.all_day,
    )


def _written(event: StoredEvent) -> WrittenEvent:
    return WrittenEvent(event.id, event.change_key, f"{event.id}@memory")


def _change(event: StoredEvent, start: datetime, end: datetime) -> Change:
    if event.deleted or not _overlaps(event, start, end):
        # Graph's delta reports an event moved out of the window as @removed too.
        return Change(id=event.id, removed=True)
    return Change(
        id=event.id,
        start=event.start,
        end=event.end,
        show_as=event.show_as,
        change_key=event.change_key,
        app_ref=event.app_ref,
        attendees=event.attendees,
    )


class MemoryCalendarClient:
    """One calendar of a :class:`MemoryCalendarBackend` (``CalendarClient``).

    ``may_read_rooms`` stands for Graph's ``Place.Read.All`` or a Google Workspace admin: without
    it :meth:`rooms` raises ``ProviderDenied``.
    """

    provider = PROVIDER

    def __init__(
        self, backend: MemoryCalendarBackend, email: str, *, may_read_rooms: bool = False
    ) -> None:
        self.backend = backend
        self.email = email
        self.may_read_rooms = may_read_rooms
        self.closed = False
        backend._cal(email)  # the calendar must exist

    def close(self) -> None:
        """Nothing to release; recorded so tests can check clients are closed."""
        self.closed = True

    # --- reads -------------------------------------------------------------------------------
    def profile(self) -> Profile:
        return self.backend._call(
            self.email, lambda cal: Profile(cal.user_id, cal.email, cal.display_name)
        )

    def events_between(self, start: datetime, end: datetime, limit: int = 50) -> list[EventView]:
        def read(cal: _Calendar) -> list[EventView]:
            views = []
            for e in cal.events.values():
                if e.deleted:
                    continue
                if e.recurrence:
                    # Occurrences, as calendarView and singleEvents=true list them.
                    for begin, finish in _occurrences(e, start, end):
                        occurrence = dataclasses.replace(
                            e, id=f"{e.id}_{begin:%Y%m%dT%H%M%SZ}", start=begin, end=finish
                        )
                        views.append(_view(cal, occurrence))
                elif _overlaps(e, start, end):
                    views.append(_view(cal, e))
            views.sort(key=lambda v: (v.start, v.id))
            return views[:limit]

        return self.backend._call(self.email, read)

    def get_event(self, event_id: str) -> EventView | None:
        def read(cal: _Calendar) -> EventView | None:
            event = cal.events.get(event_id)
            return None if event is None or event.deleted else _view(cal, event)

        return self.backend._call(self.email, read)

    # --- writes ------------------------------------------------------------------------------
    def create_event(self, draft: EventDraft) -> WrittenEvent:
        """Idempotent by ``draft.key``; after a deletion, as the backend's ``dedupe`` says."""
        backend = self.backend

        def write(cal: _Calendar) -> WrittenEvent:
            known = cal.events.get(cal.by_key.get(draft.key, ""))
            if known is not None and not known.deleted:
                return _written(known)  # a repeat answers the first event, unchanged
            if known is not None and backend.dedupe == "remembering":
                return _written(known)
            if known is not None and backend.dedupe == "google":
                return _written(backend._stamp(cal, _apply(known, draft, deleted=False)))
            blank = StoredEvent(
                backend._new_id(), draft.key, None, "", draft.start, draft.end, "", 0
            )
            event = backend._stamp(cal, _apply(blank, draft, deleted=False))
            cal.by_key[draft.key] = event.id
            return _written(event)

        return backend._call(self.email, write)

    def update_event(
        self, event_id: str, draft: EventDraft, *, if_match: str | None = None
    ) -> WrittenEvent:
        """Replace our fields; ``PreconditionFailed`` on a stale ``if_match``,
        ``ProviderNotFound`` when the event is gone."""
        backend = self.backend

        def write(cal: _Calendar) -> WrittenEvent:
            event = cal.events.get(event_id)
            if event is not None and event.deleted and if_match and backend.dedupe == "google":
                # Google keeps a deleted event, whose etag changed on deletion: with If-Match
                # the patch answers 412 (GoogleCalendarClient); Graph answers 404.
                raise PreconditionFailed("the event changed (deleted)", provider=PROVIDER)
            if event is None or event.deleted:
                raise ProviderNotFound(f"no event {event_id}", provider=PROVIDER)
            if if_match is not None and if_match != event.change_key:
                raise PreconditionFailed("the change key no longer matches", provider=PROVIDER)
            return _written(backend._stamp(cal, _apply(event, draft, deleted=False)))

        return backend._call(self.email, write)

    def update_occurrence(
        self, series_id: str, original_start: datetime, draft: EventDraft
    ) -> WrittenEvent:
        """Record an exception of the series (new times for one original start)."""
        return self._override(series_id, original_start, (draft.start, draft.end))

    def cancel_occurrence(self, series_id: str, original_start: datetime) -> None:
        """Record a cancelled occurrence; one already cancelled or gone is done."""
        try:
            self._override(series_id, original_start, None)
        except ProviderNotFound:
            return

    def _override(
        self,
        series_id: str,
        original_start: datetime,
        times: tuple[datetime, datetime] | None,
    ) -> WrittenEvent:
        backend = self.backend

        def write(cal: _Calendar) -> WrittenEvent:
            event = cal.events.get(series_id)
            original = original_start.astimezone(UTC)
            if event is None or event.deleted or not event.recurrence:
                raise ProviderNotFound(f"no series {series_id}", provider=PROVIDER)
            kept = dict(event.overrides)
            produced = recurrence.occurrences(
                event.recurrence,
                event.start,
                event.end,
                event.time_zone,
                original - timedelta(seconds=1),
                original + timedelta(seconds=1),
            )
            if not any(b == original for b, _ in produced) or (
                original in kept and kept[original] is None
            ):
                raise ProviderNotFound("no such occurrence of the series", provider=PROVIDER)
            kept[original] = times
            changed = dataclasses.replace(event, overrides=tuple(sorted(kept.items())))
            return _written(backend._stamp(cal, changed))

        return backend._call(self.email, write)

    def delete_event(self, event_id: str) -> None:
        """Delete; an event already gone (or never made) counts as done."""
        backend = self.backend

        def write(cal: _Calendar) -> None:
            event = cal.events.get(event_id)
            if event is not None and not event.deleted:
                backend._stamp(cal, dataclasses.replace(event, deleted=True))

        backend._call(self.email, write)

    # --- sync --------------------------------------------------------------------------------
    def changes(
        self, cursor: str | None, window_start: datetime, window_end: datetime, page_size: int = 100
    ) -> ChangePage:
        """A full listing of the window's live events (ordered by start), paged, then
        incremental rounds of what changed since (deletions as ``removed``).

        Cursors: ``full|<epoch>|<seq at start>|<offset>`` while the listing pages,
        ``delta|<epoch>|<seq>`` afterwards. The window travels with the call, not the cursor.
        """
        size = max(1, page_size)

        def read(cal: _Calendar) -> ChangePage:
            kind, since, offset = _parse(cursor, cal)
            if kind == "full":
                listed = sorted(
                    (
                        e
                        for e in cal.events.values()
                        if not e.deleted and _overlaps(e, window_start, window_end)
                    ),
                    key=lambda e: (e.start, e.id),
                )
                page = listed[offset : offset + size]
                found = [_change(e, window_start, window_end) for e in page]
                if offset + size < len(listed):
                    return ChangePage(found, f"full|{cal.epoch}|{since}|{offset + size}", False)
                # Writes made while the listing paged have a later seq: the next round has them.
                return ChangePage(found, f"delta|{cal.epoch}|{since}", True)
            newer = sorted((e for e in cal.events.values() if e.seq > since), key=lambda e: e.seq)
            page = newer[:size]
            found = [_change(e, window_start, window_end) for e in page]
            if len(newer) > size:
                return ChangePage(found, f"delta|{cal.epoch}|{page[-1].seq}", False)
            return ChangePage(found, f"delta|{cal.epoch}|{cal.seq}", True)

        return self.backend._call(self.email, read)

    # --- push --------------------------------------------------------------------------------
    def subscribe(
        self,
        *,
        notification_url: str,
        client_state: str,
        expires_at: datetime,
        lifecycle_url: str | None = None,
        channel_id: str | None = None,
    ) -> Subscription:
        """Record a subscription (no notifications are sent)."""
        del lifecycle_url
        sub = Subscription(
            id=channel_id or uuid.uuid4().hex,
            expires_at=expires_at,
            resource=f"calendars/{self.email}/events",
            resource_id=uuid.uuid5(uuid.NAMESPACE_URL, self.email).hex,
            notification_url=notification_url,
            client_state=client_state,
        )
        return self.backend._call(self.email, lambda _: self.backend._subscribe(self.email, sub))

    def renew(self, subscription: Subscription, expires_at: datetime) -> Subscription:
        """Extend in place (as Graph does); ``ProviderNotFound`` when it is gone."""
        return self.backend._call(
            self.email, lambda _: self.backend._renew(subscription.id, expires_at)
        )

    def unsubscribe(self, subscription: Subscription) -> None:
        self.backend._call(self.email, lambda _: self.backend._unsubscribe(subscription.id))

    # --- rooms -------------------------------------------------------------------------------
    def rooms(self) -> list[RoomInfo]:
        if not self.may_read_rooms:
            raise ProviderDenied(
                "reading rooms needs Place.Read.All or a Workspace admin",
                provider=PROVIDER,
                provider_code="forbidden",
            )
        return self.backend._call(self.email, lambda _: self.backend._rooms_list())


def _apply(event: StoredEvent, draft: EventDraft, *, deleted: bool) -> StoredEvent:
    return dataclasses.replace(
        event,
        app_ref=draft.app_ref,
        subject=draft.subject,
        start=draft.start,
        end=draft.end,
        body=draft.body,
        location=draft.location,
        attendees=draft.attendees,
        show_as=draft.show_as,
        deleted=deleted,
        recurrence=draft.recurrence,
        time_zone=draft.time_zone,
        all_day=draft.all_day,
        overrides=_still_produced(event, draft),
    )


def _still_produced(
    event: StoredEvent, draft: EventDraft
) -> tuple[tuple[datetime, tuple[datetime, datetime] | None], ...]:
    """A changed series keeps only the exceptions its new rule still produces (an early end
    drops those after it), as both providers do."""
    if not event.overrides or not draft.recurrence:
        return ()
    kept = []
    for original, times in event.overrides:
        produced = recurrence.occurrences(
            draft.recurrence,
            draft.start,
            draft.end,
            draft.time_zone,
            original - timedelta(seconds=1),
            original + timedelta(seconds=1),
        )
        if any(b == original for b, _ in produced):
            kept.append((original, times))
    return tuple(kept)


def _parse(cursor: str | None, cal: _Calendar) -> tuple[str, int, int]:
    """``(kind, seq, offset)`` of a cursor; ``CursorExpired`` for an invalidated or foreign one."""
    if cursor is None:
        return "full", cal.seq, 0
    parts = cursor.split("|")
    shape = len(parts) == {"full": 4, "delta": 3}.get(parts[0], 0)
    if shape and all(p.isdigit() for p in parts[1:]) and int(parts[1]) == cal.epoch:
        return parts[0], int(parts[2]), int(parts[3]) if parts[0] == "full" else 0
    raise CursorExpired("the cursor is no longer valid", provider=PROVIDER)


if TYPE_CHECKING:  # mypy proves the class satisfies the protocol the core programs against.

    def _conforms(backend: MemoryCalendarBackend) -> CalendarClient:
        return MemoryCalendarClient(backend, "someone@example.com")
