"""Live reads: a user's agenda, the host app's data attached to their events, availability.

The agenda is read live with the user's own connection (seed 001: the service "only stores
event IDs"; agendas are never copied), then joined with what is stored by reference: the host
app's data attached to an event (``appdata``) and whether the event is one the service created
(``eventindex``). Availability is computed from what the pull keeps (busy intervals of external
events) plus the host app's own events for each person (``appevents``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import recurrence
from shared.consent.context import ConsentContext
from shared.errors import NotFound
from shared.providers.base import EventView
from shared.storage.keys import encode_key
from shared.storage.tables import Entity
from shared.sync.appdata import AppDataStore
from shared.sync.appevents import usable
from shared.sync.busy import BusyStore
from shared.sync.calendars import CalendarRef, calendars_of, client_for, person_calendar
from shared.sync.pull_judge import APPEVENTS, EVENTINDEX, app_event_people

MAX_AGENDA_ITEMS = 250


@dataclass(frozen=True)
class AgendaItem:
    """One live event, never stored, with what we keep about it."""

    event: EventView
    app_data: dict[str, Any] | None
    created_by_service: bool
    app_event: str | None


def _calendar(ctx: ConsentContext, org: str, person: str) -> CalendarRef:
    ref = person_calendar(ctx, org, person)
    if ref is None:
        raise NotFound("your calendar is not connected", code="not_connected")
    return ref


def agenda(
    ctx: ConsentContext, org: str, person: str, start: datetime, end: datetime
) -> list[AgendaItem]:
    """``person``'s events between ``start`` and ``end``, read live with their own token.

    Raises ``NotFound`` (``not_connected``) without a connected calendar, and provider errors
    (``ReconnectNeeded``, ``Throttled``, ...) as they come.
    """
    ref = _calendar(ctx, org, person)
    with closing(client_for(ctx, ref)) as client:
        events = client.events_between(start, end, limit=MAX_AGENDA_ITEMS)
    attached = AppDataStore(ctx.tables).for_events(org, person, (e.id for e in events))
    items = []
    for event in events:
        index = ctx.tables.get(EVENTINDEX, ref.key, encode_key(event.id))
        app_event = index.get_str("app_event") if index is not None else None
        items.append(
            AgendaItem(
                event=event,
                app_data=attached.get(event.id),
                created_by_service=index is not None or bool(event.app_ref),
                app_event=app_event or None,
            )
        )
    return items


def attach_app_data(
    ctx: ConsentContext, org: str, person: str, event_id: str, data: dict[str, Any]
) -> None:
    """Attach the host app's ``data`` to ``event_id`` of ``person``'s calendar.

    The event must exist in that calendar now (checked live with the user's token), so data
    cannot be parked on arbitrary ids. ``NotFound`` (``event_not_found``) otherwise.
    """
    ref = _calendar(ctx, org, person)
    with closing(client_for(ctx, ref)) as client:
        event = client.get_event(event_id)
    if event is None or event.is_cancelled:
        raise NotFound(f"event {event_id} is not in your calendar", code="event_not_found")
    AppDataStore(ctx.tables).put(org, person, event_id, data, ctx.clock.now())


@dataclass(frozen=True)
class Busy:
    start: datetime
    end: datetime
    show_as: str
    source: str  # "calendar" (kept busy interval) or "host_app" (the host app's own event)
    app_event: str | None = None
    time_zone: str = ""  # the zone the event was created in ("" when unknown)


@dataclass
class PersonAvailability:
    person: str
    status: str  # "known" (a calendar is connected) or "unknown"
    busy: list[Busy] = field(default_factory=list)
    merged: list[tuple[datetime, datetime]] = field(default_factory=list)


def _app_busy(
    ctx: ConsentContext, org: str, people: set[str], start: datetime, end: datetime
) -> dict[str, list[Busy]]:
    """The host app's own active events in the window, per assigned person (one query)."""
    found: dict[str, list[Busy]] = {p: [] for p in people}
    for row in ctx.tables.query(APPEVENTS, encode_key(org), where={"status": "active"}):
        s, e = row.fields.get("start"), row.fields.get("end")
        if not isinstance(s, datetime) or not isinstance(e, datetime):
            continue
        zone = row.get_str("time_zone") or "UTC"
        slots = _app_slots(row, s, e, zone, start, end)
        for person in set(app_event_people(row.fields)) & people:
            found[person] += [
                Busy(b, f, "busy", "host_app", row.get_str("app_event") or None, zone)
                for b, f in slots
            ]
    return found


def _app_slots(
    row: Entity, first: datetime, last: datetime, zone: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """A host-app event's times in the window: each occurrence of a series, with the host
    app's own changes of single occurrences applied."""
    rule = row.get_str("recurrence")
    if not rule:
        return [(first, last)] if first < end and last > start else []
    event = usable(row)
    if event is None:
        return []
    changes = {o.original_start: o for o in event.content.occurrences}
    reach = timedelta(days=31)  # a changed occurrence may have moved into the window
    slots = []
    for begin, finish in recurrence.occurrences(
        rule, first, last, zone, start - reach, end + reach
    ):
        change = changes.get(begin)
        if change is not None:
            if change.start is None or change.end is None:
                continue
            begin, finish = change.start, change.end
        if begin < end and finish > start:
            slots.append((begin, finish))
    return slots


def merge(intervals: Sequence[Busy]) -> list[tuple[datetime, datetime]]:
    """The union of sorted intervals: what a scheduler needs to find a free slot."""
    merged: list[tuple[datetime, datetime]] = []
    for b in intervals:
        if b.show_as == "free":
            continue
        if merged and b.start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b.end))
        else:
            merged.append((b.start, b.end))
    return merged


def availability(
    ctx: ConsentContext, org: str, people: Sequence[str], start: datetime, end: datetime
) -> list[PersonAvailability]:
    """Busy intervals per person in ``[start, end)``, sorted by start, and their union.

    A person with a connected calendar gets the kept busy intervals of their external events
    plus the host app's own active events they are assigned to; a person without one is
    ``unknown`` and gets only the host app's events (what the service knows for sure).
    """
    busy = BusyStore(ctx.tables)
    wanted = list(dict.fromkeys(people))
    own = _app_busy(ctx, org, set(wanted), start, end)
    calendars = {r.person: r for i in ctx.integrations.for_org(org) for r in calendars_of(ctx, i)}
    result = []
    for person in wanted:
        ref = calendars.get(person)
        intervals = list(own[person])
        if ref is not None:
            kept = busy.between(ref.key, start, end)
            intervals += [
                Busy(i.start, i.end, i.show_as, "calendar", time_zone=i.time_zone) for i in kept
            ]
        intervals.sort(key=lambda b: (b.start, b.end))
        status = "known" if ref is not None else "unknown"
        result.append(PersonAvailability(person, status, intervals, merge(intervals)))
    return result
