"""``calendarView`` and ``calendarView/delta`` (https://learn.microsoft.com/graph/api/event-delta,
https://learn.microsoft.com/graph/delta-query-events).

A delta round starts with ``startDateTime``/``endDateTime`` (a full sync of the window) or with a
``$deltatoken`` (the changes since that token). Pages are ``Prefer: odata.maxpagesize=N`` long
(default 10); every page but the last carries ``@odata.nextLink`` (``$skiptoken``), the last one
``@odata.deltaLink`` (``$deltatoken``). Tokens are opaque and stored; an unknown or invalidated
token gives 410 ``SyncStateNotFound`` as Exchange answers. Deleted events, and changed events now
outside the window, come back as ``{"id": ..., "@removed": {"reason": "deleted"}}`` (Graph reports
events moved out of the window that way too). Series are expanded: a round returns the
occurrences and exceptions inside the window, never the master; a change of the master reports
each of its occurrences in the window again (:mod:`.series`).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from simulator.microsoft.graph import series
from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.events import render
from simulator.microsoft.graph.state import DeltaCursor, GraphState, StoredEvent, graph_state
from simulator.microsoft.graph.times import parse_local, preferred_zone, zone
from simulator.world import World

EVENT_TYPE = "#microsoft.graph.event"


def window(request: Request) -> tuple[datetime, datetime]:
    """``startDateTime``/``endDateTime`` as UTC (no offset: the Prefer time zone, else UTC)."""
    start = request.query_params.get("startDateTime") or request.query_params.get("startdatetime")
    end = request.query_params.get("endDateTime") or request.query_params.get("enddatetime")
    if not start or not end:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
        )
    tz = zone(preferred_zone(request.headers.get("prefer")) or "UTC")
    return parse_local(start, tz), parse_local(end, tz)


def overlaps(ev: StoredEvent, start: datetime, end: datetime) -> bool:
    assert ev.start is not None
    assert ev.end is not None
    if ev.start == ev.end:
        return start <= ev.start < end
    return ev.start < end and start < ev.end


def in_window(
    state: GraphState, mailbox_id: str, start: datetime, end: datetime
) -> list[StoredEvent]:
    """Single events, occurrences and exceptions in the window (series expanded)."""
    return series.in_window(state, mailbox_id, start, end)


def _changed_ids(state: GraphState, cursor: DeltaCursor) -> tuple[list[str], set[str]]:
    """The ids a new round reports, and the occurrence ids known present after it.

    A changed master stands for its occurrences in the window (delta never returns masters):
    they are all reported, and those the rule no longer produces (the series ended early or
    was deleted) come back as removed.
    """
    mailbox = state.mailbox(cursor.mailbox_id)
    changed = sorted(
        (e for e in mailbox.events.values() if e.version > cursor.upto), key=lambda e: e.version
    )
    ids: list[str] = []
    known = set(cursor.known)
    for ev in changed:
        if ev.kind != "seriesMaster":
            ids.append(ev.id)
            known.discard(ev.id)  # an exception or a cancellation now stands for itself
            continue
        prefix = ev.id + "-"
        now = (
            set()
            if ev.deleted
            else {
                e.id
                for e in series.instances(mailbox, ev, cursor.start, cursor.end)
                if e.kind == "occurrence"
            }
        )
        before = {k for k in known if k.startswith(prefix)}
        ids.extend(sorted(now | before))
        known = (known - before) | now
    return list(dict.fromkeys(ids)), known


def removed(event_id: str) -> dict[str, Any]:
    return {"@odata.type": EVENT_TYPE, "id": event_id, "@removed": {"reason": "deleted"}}


def _gone() -> GraphError:
    return GraphError(
        410,
        "SyncStateNotFound",
        "The sync state generation is not found; generation=0;[highest=0].",
    )


def _store(state: GraphState, cursor: DeltaCursor) -> str:
    token = secrets.token_urlsafe(48)
    state.cursors[token] = cursor
    return token


def delta_page(world: World, mailbox_id: str, request: Request, size: int) -> dict[str, Any]:
    """One page of a delta round for ``mailbox_id``."""
    state = graph_state(world)
    params = request.query_params
    tz_name = preferred_zone(request.headers.get("prefer"))
    with world.lock:
        skip, delta = params.get("$skiptoken"), params.get("$deltatoken")
        if skip or delta:
            cursor = state.cursors.get(skip or delta or "")
            if cursor is None or cursor.mailbox_id != mailbox_id or (delta and cursor.pending):
                raise _gone()
            if delta:
                # A new round: every event changed since the token, deleted ones included.
                pending, known = _changed_ids(state, cursor)
                cursor = DeltaCursor(
                    mailbox_id,
                    cursor.start,
                    cursor.end,
                    since=cursor.upto,
                    upto=state.seq,
                    select=cursor.select,
                    pending=pending,
                    known=known,
                )
        else:
            start, end = window(request)
            present = in_window(state, mailbox_id, start, end)
            cursor = DeltaCursor(
                mailbox_id,
                start,
                end,
                since=-1,
                upto=state.seq,
                select=params.get("$select"),
                pending=[e.id for e in present],
                known={e.id for e in present if e.kind == "occurrence"},
            )
        page_ids, rest = cursor.pending[:size], cursor.pending[size:]
        mailbox = state.mailbox(mailbox_id)
        value = []
        for event_id in page_ids:
            ev = series.lookup(mailbox, event_id)
            if ev is None or ev.deleted or not overlaps(ev, cursor.start, cursor.end):
                if ev is None:
                    value.append(removed(event_id))
                    continue
                if cursor.since >= 0 or ev.deleted:
                    value.append(removed(event_id))
                continue
            value.append({"@odata.type": EVENT_TYPE, **render(ev, tz_name, cursor.select)})
        base = world.base_url + request.url.path
        body: dict[str, Any] = {
            "@odata.context": f"{world.base_url}/graph/v1.0/$metadata#Collection(event)"
        }
        if rest:
            nxt = DeltaCursor(
                mailbox_id,
                cursor.start,
                cursor.end,
                cursor.since,
                cursor.upto,
                cursor.select,
                rest,
                cursor.known,
            )
            body["@odata.nextLink"] = base + "?" + urlencode({"$skiptoken": _store(state, nxt)})
        else:
            done = DeltaCursor(
                mailbox_id,
                cursor.start,
                cursor.end,
                cursor.upto,
                cursor.upto,
                cursor.select,
                known=cursor.known,
            )
            body["@odata.deltaLink"] = base + "?" + urlencode({"$deltatoken": _store(state, done)})
        body["value"] = value
        return body


def invalidate(world: World, mailbox_id: str) -> int:
    """Forget every delta/skip token of a mailbox (the next use answers 410)."""
    state = graph_state(world)
    with world.lock:
        gone = [t for t, c in state.cursors.items() if c.mailbox_id == mailbox_id]
        for token in gone:
            del state.cursors[token]
        return len(gone)
