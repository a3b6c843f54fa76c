"""Series in a mailbox: expanding masters in a window, finding an occurrence by id, turning an
edited occurrence into an exception, and cancelling one occurrence.

Stored per series: the master (``type: seriesMaster``) and, under the occurrence's own id, every
exception (``type: exception``) and cancelled occurrence (a tombstone, ``deleted``), so that
delta reports them like any other change. Occurrences nobody touched are computed on demand
(:mod:`.recurrence`). Callers hold ``world.lock``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from simulator.microsoft.graph import recurrence
from simulator.microsoft.graph.state import GraphState, Mailbox, StoredEvent


def _overlaps(ev: StoredEvent, start: datetime, end: datetime) -> bool:
    assert ev.start is not None
    assert ev.end is not None
    if ev.start == ev.end:
        return start <= ev.start < end
    return ev.start < end and start < ev.end


def instances(
    mailbox: Mailbox, master: StoredEvent, start: datetime, end: datetime
) -> list[StoredEvent]:
    """The master's occurrences and live exceptions overlapping ``[start, end)``, by start."""
    out: list[StoredEvent] = []
    for ident, original in recurrence.all_original_ids(master, start, end).items():
        if ident not in mailbox.events:  # an exception or a cancelled occurrence
            out.append(recurrence.occurrence(master, original))
    for other in mailbox.events.values():
        if (
            other.kind == "exception"
            and not other.deleted
            and other.data.get("seriesMasterId") == master.id
            and _overlaps(other, start, end)
        ):
            out.append(other)
    return sorted(out, key=lambda e: (e.start, e.id))


def in_window(
    state: GraphState, mailbox_id: str, start: datetime, end: datetime
) -> list[StoredEvent]:
    """What ``calendarView`` shows: single events, occurrences and exceptions, never masters."""
    mailbox = state.mailbox(mailbox_id)
    out: list[StoredEvent] = []
    for ev in mailbox.live():
        if ev.kind == "seriesMaster":
            out.extend(e for e in instances(mailbox, ev, start, end) if e.kind == "occurrence")
        elif _overlaps(ev, start, end):
            out.append(ev)
    return sorted(out, key=lambda e: (e.start, e.id))


def lookup(mailbox: Mailbox, event_id: str) -> StoredEvent | None:
    """A stored event, or the untouched occurrence ``event_id`` names (``None`` otherwise)."""
    stored = mailbox.events.get(event_id)
    if stored is not None:
        return stored
    master_id, _, tail = event_id.rpartition("-")
    master = mailbox.events.get(master_id)
    if master is None or master.deleted or master.kind != "seriesMaster":
        return None
    try:
        stamp = base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4)).decode()
        original = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    ids = recurrence.all_original_ids(master, original, original + timedelta(seconds=1))
    if event_id not in ids:
        return None
    return recurrence.occurrence(master, original)


def make_exception(state: GraphState, ev: StoredEvent) -> StoredEvent:
    """Store an occurrence that is about to be edited as an exception of its series."""
    ev.data["type"] = "exception"
    return keep(state, ev)


def keep(state: GraphState, ev: StoredEvent) -> StoredEvent:
    """Store a computed occurrence under its id (before it is edited or cancelled)."""
    state.mailbox(ev.mailbox_id).events[ev.id] = ev
    return ev


def outside(state: GraphState, master: StoredEvent) -> list[StoredEvent]:
    """Live exceptions that no longer belong to an occurrence of ``master`` (its rule changed,
    or it was deleted): Outlook removes them with the change."""
    mailbox = state.mailbox(master.mailbox_id)
    gone: list[StoredEvent] = []
    for other in list(mailbox.events.values()):
        if other.deleted or other.kind == "seriesMaster":
            continue
        if other.data.get("seriesMasterId") != master.id:
            continue
        original = _original(other)
        valid = (
            not master.deleted
            and original is not None
            and other.id
            in recurrence.all_original_ids(master, original, original + timedelta(seconds=1))
        )
        if not valid:
            gone.append(other)
    return gone


def _original(ev: StoredEvent) -> datetime | None:
    text = ev.data.get("originalStart")
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
