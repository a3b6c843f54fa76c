"""Event primitives: build, change, delete and render one event in one mailbox.

The shape follows the event resource (https://learn.microsoft.com/graph/api/resources/event):
``@odata.etag`` is ``W/"<changeKey>"``, ``changeKey`` changes on every update, ``iCalUId`` is shared
by the organizer's event and every attendee's copy. Callers hold ``world.lock``; every change bumps
the world-wide sequence (for delta) and hands the change to :mod:`.dispatch` for notifications.
"""

from __future__ import annotations

import copy
import html
import re
import uuid
from datetime import datetime
from typing import Any

from simulator.microsoft.directory import MsUser
from simulator.microsoft.graph import dispatch, recurrence, series
from simulator.microsoft.graph.errors import GraphError, bad_request, item_not_found
from simulator.microsoft.graph.state import (
    GraphState,
    StoredEvent,
    graph_state,
    new_change_key,
    new_event_id,
)
from simulator.microsoft.graph.times import format_dt, iso_utc, parse_dtz, zone
from simulator.world import World

NEVER = "0001-01-01T00:00:00Z"
SHOW_AS = {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}
RESPONSES = {"none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded"}
# Properties a client may set with POST or PATCH (read-only ones are ignored, as Graph does).
WRITABLE = {
    "subject",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "attendees",
    "showAs",
    "categories",
    "isAllDay",
    "sensitivity",
    "importance",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "singleValueExtendedProperties",
    "transactionId",
    "isOnlineMeeting",
    "responseRequested",
    "allowNewTimeProposals",
    "hideAttendees",
    "recurrence",
}


def email(user: MsUser) -> dict[str, str]:
    return {"name": user.display_name, "address": user.mail}


def _ical_uid() -> str:
    # Exchange iCalUIds are long upper-case hex strings with this fixed prefix.
    return "040000008200E00074C5B7101A82E008" + uuid.uuid4().hex.upper() + uuid.uuid4().hex.upper()


def _preview(body: dict[str, Any]) -> str:
    text = re.sub(r"<[^>]+>", " ", str(body.get("content", "")))
    return re.sub(r"\s+", " ", html.unescape(text)).strip()[:255]


def _attendees(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise bad_request("attendees must be a collection.", "ErrorInvalidRequest")
    out = []
    for item in raw:
        address = (item.get("emailAddress") or {}) if isinstance(item, dict) else {}
        if not address.get("address"):
            raise bad_request("An attendee must have an email address.", "ErrorInvalidRecipients")
        status = item.get("status") or {}
        out.append(
            {
                "type": item.get("type", "required"),
                "status": {
                    "response": status.get("response", "none"),
                    "time": status.get("time", NEVER),
                },
                "emailAddress": {
                    "name": address.get("name", address["address"]),
                    "address": address["address"],
                },
            }
        )
    return out


def _location(raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    return {
        "displayName": raw.get("displayName", ""),
        "locationType": raw.get("locationType", "default"),
        "uniqueIdType": raw.get("uniqueIdType", "unknown"),
        "address": raw.get("address", {}),
        "coordinates": raw.get("coordinates", {}),
        **{k: v for k, v in raw.items() if k in ("locationEmailAddress", "locationUri")},
    }


def _apply(ev: StoredEvent, patch: dict[str, Any]) -> None:
    """Copy the writable properties of ``patch`` into ``ev`` (validating them)."""
    data = ev.data
    for key, value in patch.items():
        if key not in WRITABLE:
            continue
        if key in ("start", "end"):
            moment = parse_dtz(value, key)
            tz_name = str(value.get("timeZone") or "UTC")
            if key == "start":
                ev.start = moment
                data["originalStartTimeZone"] = tz_name
            else:
                ev.end = moment
                data["originalEndTimeZone"] = tz_name
        elif key == "attendees":
            data["attendees"] = _attendees(value)
        elif key == "location":
            data["location"] = _location(value)
        elif key == "locations":
            data["locations"] = [_location(v) for v in (value or [])]
        elif key == "body":
            body = {
                "contentType": value.get("contentType", "text"),
                "content": value.get("content", ""),
            }
            data["body"] = body
            data["bodyPreview"] = _preview(body)
        elif key == "showAs":
            if value not in SHOW_AS:
                raise bad_request(f"Invalid showAs value '{value}'.", "ErrorInvalidRequest")
            data["showAs"] = value
        elif key == "categories":
            data["categories"] = [str(c) for c in (value or [])]
        elif key == "recurrence":
            if ev.kind in ("occurrence", "exception"):
                continue  # an instance of a series cannot carry a rule of its own
            if value is None:
                data["recurrence"] = None
                data["type"] = "singleInstance"
            else:
                data["recurrence"] = recurrence.validate(value)
                data["type"] = "seriesMaster"
        else:
            data[key] = copy.deepcopy(value)
    if ev.start is None or ev.end is None:
        raise bad_request("Event start and end are required.", "ErrorInvalidRequest")
    if ev.end < ev.start:
        raise bad_request(
            "The Event's end time must be after the start time.", "ErrorInvalidRequest"
        )
    if data.get("recurrence") and not data["recurrence"]["range"]["recurrenceTimeZone"]:
        data["recurrence"]["range"]["recurrenceTimeZone"] = data["originalStartTimeZone"]
    if data.get("isAllDay"):
        _check_all_day(ev)
    if "location" in patch and "locations" not in patch:
        loc = data["location"]
        data["locations"] = [loc] if loc.get("displayName") else []


def _check_all_day(ev: StoredEvent) -> None:
    # event resource, isAllDay: "If true, regardless of whether it's a single-day or multi-day
    # event, start, and end time must be set to midnight and be in the same time zone."
    assert ev.start is not None
    assert ev.end is not None
    tz = zone(str(ev.data["originalStartTimeZone"]))
    for moment in (ev.start, ev.end):
        local = moment.astimezone(tz)
        if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
            raise bad_request(
                "Start and end of an all-day event must be midnight in its time zone.",
                "ErrorInvalidRequest",
            )
    if ev.data["originalStartTimeZone"] != ev.data["originalEndTimeZone"] or ev.end <= ev.start:
        raise bad_request(
            "An all-day event must end at a later midnight in the same time zone.",
            "ErrorInvalidRequest",
        )


def new_event(
    world: World,
    owner: MsUser,
    body: dict[str, Any],
    *,
    organizer: MsUser | None = None,
    ical_uid: str | None = None,
) -> StoredEvent:
    """Create an event in ``owner``'s mailbox (the organizer's own, or an attendee's copy)."""
    state = graph_state(world)
    now = world.now()
    organizer = organizer or owner
    is_organizer = organizer.id == owner.id
    ev = StoredEvent(id=new_event_id(), mailbox_id=owner.id, data={}, version=0)
    ev.data = {
        "id": ev.id,
        "createdDateTime": iso_utc(now),
        "lastModifiedDateTime": iso_utc(now),
        "changeKey": new_change_key(),
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": "UTC",
        "originalEndTimeZone": "UTC",
        "iCalUId": ical_uid or _ical_uid(),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": "",
        "bodyPreview": "",
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": is_organizer,
        "responseRequested": True,
        "seriesMasterId": None,
        "showAs": "busy",
        "type": "singleInstance",
        "webLink": f"https://outlook.office365.com/owa/?itemid={ev.id}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True,
        "occurrenceId": None,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": "organizer" if is_organizer else "none", "time": NEVER},
        "body": {"contentType": "html", "content": ""},
        "location": _location({}),
        "locations": [],
        "recurrence": None,
        "attendees": [],
        "organizer": {"emailAddress": email(organizer)},
        "onlineMeeting": None,
    }
    _apply(ev, body)
    ev.version = state.next_seq()
    state.mailbox(owner.id).events[ev.id] = ev
    dispatch.notify_change(world, ev, "created")
    return ev


def find(state: GraphState, mailbox_id: str, event_id: str) -> StoredEvent:
    """A live event, or an untouched occurrence of a series (computed); 404 otherwise."""
    ev = series.lookup(state.mailbox(mailbox_id), event_id)
    if ev is None or ev.deleted:
        raise item_not_found()
    return ev


def etag(ev: StoredEvent) -> str:
    return f'W/"{ev.data["changeKey"]}"'


def touch(world: World, ev: StoredEvent) -> None:
    """Record an update: new changeKey, lastModifiedDateTime, version; notify subscribers."""
    state = graph_state(world)
    ev.data["changeKey"] = new_change_key()
    ev.data["lastModifiedDateTime"] = iso_utc(world.now())
    ev.version = state.next_seq()
    dispatch.notify_change(world, ev, "updated")


def update_event(
    world: World, ev: StoredEvent, patch: dict[str, Any], if_match: str | None = None
) -> StoredEvent:
    """PATCH semantics; a stale ``If-Match`` gives 412 ``ErrorIrresolvableConflict``."""
    if if_match and if_match.strip() != "*" and if_match.strip() != etag(ev):
        # Exchange's answer when the change key sent does not match the item's current one.
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed "
            "in the request does not match the current change key for the item.",
        )
    _apply(ev, patch)
    touch(world, ev)
    return ev


def delete_event(world: World, ev: StoredEvent) -> None:
    state = graph_state(world)
    ev.deleted = True
    ev.version = state.next_seq()
    dispatch.notify_change(world, ev, "deleted")


def set_times(ev: StoredEvent, start: datetime, end: datetime) -> None:
    ev.start, ev.end = start, end


def render(
    ev: StoredEvent, tz_name: str | None = None, select: str | None = None
) -> dict[str, Any]:
    """The event as Graph returns it: times in ``tz_name`` (UTC by default), ``$select`` applied."""
    assert ev.start is not None
    assert ev.end is not None
    tz = tz_name or "UTC"
    if ev.data.get("isAllDay"):
        # All-day events are dates: Graph returns them as midnights in the zone they were
        # created in, whatever Prefer: outlook.timezone asks for.
        tz = str(ev.data.get("originalStartTimeZone") or "UTC")
    out: dict[str, Any] = {"@odata.etag": etag(ev)}
    out.update(copy.deepcopy(ev.data))
    out["start"] = format_dt(ev.start, tz)
    out["end"] = format_dt(ev.end, tz)
    if select:
        wanted = {s.strip().lower() for s in select.split(",") if s.strip()}
        out = {k: v for k, v in out.items() if k in ("@odata.etag", "id") or k.lower() in wanted}
    return out
