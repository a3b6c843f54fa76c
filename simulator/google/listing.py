"""events.list: filters, paging and sync tokens, as the Calendar sync guide describes them.

- A full list pages with ``nextPageToken``; the last page carries ``nextSyncToken``.
- ``syncToken`` returns everything changed since the token (deleted events as ``cancelled``)
  and cannot be combined with ``timeMin``, ``timeMax``, ``updatedMin``, ``iCalUID``, ``orderBy``,
  ``q`` or extended-property filters (400).
- An invalid or invalidated sync token answers 410 ``fullSyncRequired``.
- ``maxResults`` defaults to 250 and is capped at 2500 (events.list reference).

Paging is consistent: the first page fixes a snapshot (the calendar's change sequence) and later
pages only return events not changed since, in a stable order keyed by a cursor; changes made while
paging are picked up by the next incremental sync, whose token starts at the snapshot.
(https://developers.google.com/workspace/calendar/api/guides/sync,
https://developers.google.com/workspace/calendar/api/v3/reference/events/list)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from simulator.google import recurring
from simulator.google.store import (
    Calendar,
    EventError,
    StoredEvent,
    calendar,
    decode_token,
    encode_token,
    event_bounds,
    instance_event,
    parse_time,
    render,
    rfc3339,
)
from simulator.world import World

DEFAULT_PAGE = 250
MAX_PAGE = 2500
_NOT_WITH_SYNC = (
    "timeMin",
    "timeMax",
    "updatedMin",
    "iCalUID",
    "orderBy",
    "q",
    "privateExtendedProperty",
    "sharedExtendedProperty",
)


def _time_param(query: Mapping[str, str], name: str) -> datetime | None:
    if name not in query:
        return None
    try:
        return parse_time(query[name])
    except ValueError as exc:
        raise EventError(400, "invalid", f"Bad Request: invalid {name}", location=name) from exc


def _matches_properties(event: StoredEvent, kind: str, filters: Sequence[str]) -> bool:
    props = event.body.get("extendedProperties", {}).get(kind, {})
    for item in filters:
        name, _, value = item.partition("=")
        if props.get(name) != value:
            return False
    return True


def _candidates(
    cal: Calendar,
    single: bool,
    since: int | None,
    time_min: datetime | None,
    time_max: datetime | None,
) -> list[StoredEvent]:
    """The events a listing considers: with ``singleEvents=true`` each recurring event stands
    for its instances (changed ones are stored as exceptions, the rest computed).

    An incremental round (``since``) cannot be bounded by timeMin/timeMax, so a changed
    recurring event brings every instance back, up to :data:`recurring.EXPANSION_LIMIT` for a
    series without end (the guide lists instances "unbounded" otherwise).
    """
    out: list[StoredEvent] = []
    for event in cal.events.values():
        if not (single and event.recurring):
            out.append(event)
            continue
        if since is not None and event.change_seq <= since:
            continue
        lo, hi = (None, None) if since is not None else (time_min, time_max)
        for found in recurring.instances(event.id, event.body, cal.time_zone, lo, hi):
            if found.id not in cal.events:
                out.append(instance_event(cal, event, found))
    return out


def list_instances(
    world: World, calendar_id: str, event_id: str, query: Mapping[str, str]
) -> dict[str, Any]:
    """events.instances: the instances of a recurring event in ``timeMin``..``timeMax``
    (exceptions as changed; cancelled ones only with ``showDeleted``)."""
    cal = calendar(world, calendar_id)
    master = cal.events.get(event_id)
    if master is None or not master.recurring:
        raise EventError(404, "notFound", "Not Found")
    time_min = _time_param(query, "timeMin")
    time_max = _time_param(query, "timeMax")
    show_deleted = query.get("showDeleted", "false").lower() == "true"
    original = _time_param(query, "originalStart")
    if original is not None:
        # events.instances' originalStart: "the original start time of the instance in the
        # result"; only that instance is returned.
        time_min, time_max = original - timedelta(seconds=1), original + timedelta(seconds=1)
    try:
        size = min(int(query.get("maxResults", DEFAULT_PAGE)), MAX_PAGE)
        offset = int(query.get("pageToken", "0"))
    except ValueError as exc:
        raise EventError(400, "invalid", "Invalid value for maxResults or pageToken") from exc
    items = []
    for found in recurring.instances(master.id, master.body, cal.time_zone, time_min, time_max):
        if original is not None and found.original != original:
            continue
        stored = cal.events.get(found.id) or instance_event(cal, master, found)
        if stored.cancelled and not show_deleted:
            continue
        items.append(render(world, cal, stored))
    body: dict[str, Any] = {
        "kind": "calendar#events",
        "summary": cal.id,
        "timeZone": cal.time_zone,
        "items": items[offset : offset + size],
    }
    if offset + size < len(items):
        body["nextPageToken"] = str(offset + size)
    return body


def list_events(
    world: World,
    calendar_id: str,
    query: Mapping[str, str],
    multi: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The ``calendar#events`` page for ``query`` (raises :class:`EventError`)."""
    multi = multi or {}
    cal = calendar(world, calendar_id)
    sync_token = query.get("syncToken")
    if sync_token is not None:
        clash = [name for name in _NOT_WITH_SYNC if name in query]
        if clash:
            raise EventError(
                400, "invalid", f"Sync token cannot be used with {clash[0]}.", location=clash[0]
            )
    try:
        size = int(query.get("maxResults", DEFAULT_PAGE))
    except ValueError as exc:
        raise EventError(400, "invalid", "Invalid value for maxResults", "maxResults") from exc
    if size < 1:
        raise EventError(400, "invalid", "Invalid value for maxResults", location="maxResults")
    size = min(size, MAX_PAGE)
    time_min = _time_param(query, "timeMin")
    time_max = _time_param(query, "timeMax")
    updated_min = _time_param(query, "updatedMin")
    if time_min and time_max and time_min >= time_max:
        raise EventError(400, "timeRangeEmpty", "The specified time range is empty.", "timeMax")
    order = query.get("orderBy")
    single = query.get("singleEvents", "false").lower() == "true"
    if order == "startTime" and not single:
        raise EventError(
            400, "badRequest", "The requested ordering is not available for the particular query."
        )
    if order not in (None, "startTime", "updated"):
        raise EventError(400, "invalid", "Invalid value for orderBy", location="orderBy")

    since: int | None = None
    if sync_token is not None:
        data = decode_token(sync_token)
        if not data or data.get("c") != cal.id or data.get("e") != cal.epoch:
            raise EventError(
                410,
                "fullSyncRequired",
                "Sync token is no longer valid, a full sync is required.",
                location="syncToken",
            )
        since = int(data["s"])

    cursor: list[str] | None = None
    snapshot = cal.change_seq
    if "pageToken" in query:
        page = decode_token(query["pageToken"])
        if not page or page.get("c") != cal.id:
            raise EventError(400, "invalid", "Invalid page token value.", location="pageToken")
        snapshot, cursor = int(page["s"]), page.get("k")

    show_deleted = query.get("showDeleted", "false").lower() == "true"
    ical = query.get("iCalUID")
    text = query.get("q", "").lower()
    selected: list[tuple[list[str], StoredEvent]] = []
    for event in _candidates(cal, single, since, time_min, time_max):
        if event.change_seq > snapshot:
            continue
        if since is not None:
            if event.change_seq <= since:
                continue
        else:
            if event.cancelled and not (show_deleted or updated_min is not None):
                continue
            if updated_min is not None and event.updated < updated_min:
                continue
            if ical is not None and f"{event.id}@google.com" != ical:
                continue
            if event.recurring:
                # A recurring event is in the range when one of its instances is.
                if (time_min or time_max) and not recurring.instances(
                    event.id, event.body, cal.time_zone, time_min, time_max
                ):
                    continue
            else:
                start, end = event_bounds(event.body, cal.time_zone)
                if time_min is not None and end <= time_min:
                    continue
                if time_max is not None and start >= time_max:
                    continue
            if (
                text
                and text
                not in " ".join(
                    str(event.body.get(k, "")) for k in ("summary", "description", "location")
                ).lower()
            ):
                continue
            if not _matches_properties(event, "private", multi.get("privateExtendedProperty", [])):
                continue
            if not _matches_properties(event, "shared", multi.get("sharedExtendedProperty", [])):
                continue
        if order == "startTime":
            key = [rfc3339(event_bounds(event.body, cal.time_zone)[0]), event.id]
        elif order == "updated":
            key = [rfc3339(event.updated), f"{event.change_seq:012d}", event.id]
        else:
            key = [rfc3339(event.created), event.id]
        if cursor is not None and key <= cursor:
            continue
        selected.append((key, event))
    selected.sort(key=lambda pair: pair[0])
    page_items = selected[:size]
    body: dict[str, Any] = {
        "kind": "calendar#events",
        "etag": f'"{snapshot:012d}"',
        "summary": cal.id,
        "description": "",
        "updated": rfc3339(max((e.updated for _, e in page_items), default=world.now())),
        "timeZone": cal.time_zone,
        "accessRole": "owner",
        "defaultReminders": [],
        "items": [render(world, cal, event) for _, event in page_items],
    }
    if len(selected) > size:
        body["nextPageToken"] = encode_token({"c": cal.id, "s": snapshot, "k": page_items[-1][0]})
    elif not text:
        body["nextSyncToken"] = encode_token({"c": cal.id, "e": cal.epoch, "s": snapshot})
    return body


def invalidate_sync_tokens(world: World, calendar_id: str) -> None:
    """Make every sync token of the calendar answer 410 ``fullSyncRequired``."""
    calendar(world, calendar_id).epoch += 1
