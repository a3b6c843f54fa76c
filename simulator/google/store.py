"""Calendars and events: the data model behind Calendar v3 and the control API.

Every change to a calendar bumps its ``change_seq``; each event remembers the sequence number of
its last change, which is what incremental sync compares against. A sync token names the calendar,
its ``epoch`` and the sequence number it covers; invalidating a calendar's sync tokens bumps the
epoch so every older token answers 410 ``fullSyncRequired`` (the sync guide says a token can be
invalidated at any time, https://developers.google.com/workspace/calendar/api/guides/sync).

Deleting an event keeps it as ``status: cancelled`` so incremental results can report it.
Change listeners (push channels) are called with the calendar id after every change, outside of
any guarantee about ordering with the HTTP response.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simulator.google import recurring
from simulator.google.state import GoogleState, google
from simulator.world import World

# Calendar v3 events.insert: "characters allowed in the ID are those used in base32hex encoding,
# i.e. lowercase letters a-v and digits 0-9"; "the length of the ID must be between 5 and 1024".
EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
# Fields a client may write; the rest are computed by the server.
WRITABLE = (
    "summary",
    "description",
    "location",
    "start",
    "end",
    "attendees",
    "transparency",
    "visibility",
    "extendedProperties",
    "recurrence",
    "reminders",
    "colorId",
    "status",
    "guestsCanModify",
)
# A change to these bumps ``sequence`` (iCalendar SEQUENCE: significant rescheduling changes).
SIGNIFICANT = ("start", "end", "location", "recurrence")


@dataclass
class StoredEvent:
    id: str
    body: dict[str, Any]  # the client-writable part
    created: datetime
    updated: datetime
    sequence: int
    change_seq: int
    cancelled: bool = False
    # For an instance of a recurring event that was changed or cancelled (an exception).
    recurring_event_id: str | None = None
    original_start: dict[str, Any] | None = None

    @property
    def recurring(self) -> bool:
        """A recurring event (a series), not an instance of one."""
        return bool(self.body.get("recurrence")) and self.recurring_event_id is None


@dataclass
class Calendar:
    id: str  # the owner's email (or a room's resource email)
    events: dict[str, StoredEvent] = field(default_factory=dict)
    change_seq: int = 0
    epoch: int = 1
    # The calendar's own zone (CalendarListEntry/Calendar ``timeZone``): all-day dates and
    # date-times without offset or zone are read in it.
    time_zone: str = "UTC"


class EventError(Exception):
    """A request the Calendar API refuses; ``code``/``reason``/``message`` as Google sends."""

    def __init__(self, code: int, reason: str, message: str, location: str | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.location = location


@dataclass
class CalendarStore:
    calendars: dict[str, Calendar] = field(default_factory=dict)
    listeners: list[Callable[[str, str], None]] = field(default_factory=list)


def store(world: World) -> CalendarStore:
    """The world's calendars, created on first use."""
    return world.area("google.calendars", CalendarStore)


def calendar(world: World, calendar_id: str) -> Calendar:
    """The calendar of ``calendar_id`` (a user's or room's email), created on first use."""
    cals = store(world).calendars
    key = calendar_id.lower()
    if key not in cals:
        cals[key] = Calendar(id=key)
    return cals[key]


def new_event_id(world: World) -> str:
    return "".join(world.rng.choice(_BASE32HEX) for _ in range(26))


def rfc3339(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp with an offset (Google refuses timeMin/timeMax without one)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("missing time zone offset")
    return moment


def event_bounds(body: dict[str, Any], zone_name: str = "UTC") -> tuple[datetime, datetime]:
    """Start and end of an event; ``zone_name`` is the calendar's time zone.

    All-day ``date`` values are midnight in the event's ``timeZone``, else the calendar's
    (Event resource: "the time zone of the calendar" applies when none is given).
    """

    def point(value: dict[str, Any]) -> datetime:
        zone = ZoneInfo(value.get("timeZone") or zone_name)
        if "dateTime" in value:
            moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
            if moment.tzinfo is None:
                # A dateTime without offset is read in the event's timeZone (Event resource docs).
                moment = moment.replace(tzinfo=zone)
            return moment
        return datetime.fromisoformat(value["date"]).replace(tzinfo=zone)

    return point(body["start"]), point(body["end"])


def _etag(event: StoredEvent) -> str:
    return f'"{int(event.updated.timestamp() * 1000)}{event.change_seq:06d}"'


def render(world: World, cal: Calendar, event: StoredEvent) -> dict[str, Any]:
    """The Calendar v3 ``Event`` resource."""
    series = (
        {"recurringEventId": event.recurring_event_id, "originalStartTime": event.original_start}
        if event.recurring_event_id
        else {}
    )
    if event.cancelled:
        # Deleted events in incremental results carry little more than id and status (and,
        # for a cancelled instance, which series and which original start it was).
        return {
            "kind": "calendar#event",
            "etag": _etag(event),
            "id": event.id,
            "status": "cancelled",
            "updated": rfc3339(event.updated),
            **series,
        }
    body = copy.deepcopy(event.body)
    owner = {"email": cal.id, "self": True}
    resource: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": _etag(event),
        "id": event.id,
        "status": body.pop("status", "confirmed"),
        "htmlLink": f"{world.base_url}/google/calendar/event?eid={event.id}",
        "created": rfc3339(event.created),
        "updated": rfc3339(event.updated),
        "creator": dict(owner),
        "organizer": dict(owner),
        "iCalUID": f"{event.id}@google.com",
        "sequence": event.sequence,
        "eventType": "default",
        "reminders": {"useDefault": True},
    }
    resource.update(body)
    resource.update(series)
    for attendee in resource.get("attendees", []):
        if attendee.get("email", "").lower() == cal.id:
            attendee["self"] = True
            attendee.setdefault("organizer", True)
    return resource


def _normalise_attendees(world: World, cal: Calendar, body: dict[str, Any]) -> None:
    state = google(world)
    for attendee in body.get("attendees", []):
        email = attendee.get("email", "").lower()
        attendee["email"] = email
        if email == cal.id:
            attendee.setdefault("responseStatus", "accepted")
            attendee["organizer"] = True
        else:
            attendee.setdefault("responseStatus", "needsAction")
        if state.find_room(email):
            attendee["resource"] = True


def _touch(world: World, cal: Calendar, event: StoredEvent) -> None:
    cal.change_seq += 1
    event.change_seq = cal.change_seq
    event.updated = world.now()


def _notify(world: World, calendar_id: str, state: str = "exists") -> None:
    for listener in list(store(world).listeners):
        listener(calendar_id, state)


def insert_event(world: World, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """events.insert; returns the stored event as inserted (before any room answers)."""
    cal = calendar(world, calendar_id)
    event_id = body.get("id")
    if event_id is not None:
        if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
            raise EventError(400, "invalid", "Invalid resource id value.")
        if event_id in cal.events:
            # Deleted (cancelled) events keep their id: reusing it is still a duplicate.
            raise EventError(409, "duplicate", "The requested identifier already exists.")
    else:
        event_id = new_event_id(world)
    if "start" not in body:
        raise EventError(400, "required", "Missing start time.")
    if "end" not in body:
        raise EventError(400, "required", "Missing end time.")
    try:
        start, end = event_bounds(body, cal.time_zone)
    except (KeyError, ValueError, ZoneInfoNotFoundError) as exc:
        raise EventError(400, "invalid", "Invalid start or end time.") from exc
    if end < start:
        raise EventError(400, "timeRangeEmpty", "The specified time range is empty.")
    _check_recurrence(body, cal)
    clean = {k: copy.deepcopy(body[k]) for k in WRITABLE if k in body}
    _normalise_attendees(world, cal, clean)
    now = world.now()
    event = StoredEvent(event_id, clean, now, now, 0, 0)
    _touch(world, cal, event)
    cal.events[event_id] = event
    result = render(world, cal, event)
    _notify(world, cal.id)
    _rooms_answer(world, cal, event)
    return result


def _check_recurrence(body: dict[str, Any], cal: Calendar) -> None:
    if not body.get("recurrence"):
        return
    if "dateTime" in body["start"] and not body["start"].get("timeZone"):
        # Event resource, start.timeZone: "For recurring events this field is required".
        raise EventError(400, "invalid", "Missing time zone definition for start time.")
    try:
        recurring.ruleset(body, cal.time_zone)
    except recurring.RecurrenceError as exc:
        raise EventError(400, "invalid", "Invalid recurrence rule.") from exc


def virtual_instance(cal: Calendar, event_id: str) -> StoredEvent | None:
    """The untouched instance ``event_id`` of a recurring event, computed (not stored)."""
    master = cal.events.get(event_id.rpartition("_")[0])
    if master is None or not master.recurring:
        return None
    found = recurring.find_instance(master.id, master.body, cal.time_zone, event_id)
    if found is None:
        return None
    return instance_event(cal, master, found)


def instance_event(cal: Calendar, master: StoredEvent, found: recurring.Instance) -> StoredEvent:
    body, original = recurring.instance_body(master.body, found, cal.time_zone)
    return StoredEvent(
        id=found.id,
        body=body,
        created=master.created,
        updated=master.updated,
        sequence=master.sequence,
        change_seq=master.change_seq,
        cancelled=master.cancelled,
        recurring_event_id=master.id,
        original_start=original,
    )


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    # PATCH semantics: nested objects merge, arrays and scalars replace, null clears.
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def get_stored(
    world: World, calendar_id: str, event_id: str, *, keep: bool = False
) -> tuple[Calendar, StoredEvent]:
    """The event ``event_id``, or an instance of a recurring event (stored first when ``keep``:
    it is about to become an exception)."""
    cal = calendar(world, calendar_id)
    event = cal.events.get(event_id)
    if event is None:
        event = virtual_instance(cal, event_id)
        if event is not None and keep:
            cal.events[event_id] = event
    if event is None:
        raise EventError(404, "notFound", "Not Found")
    return cal, event


def modify_event(
    world: World,
    calendar_id: str,
    event_id: str,
    body: dict[str, Any],
    *,
    replace: bool,
    if_match: str | None = None,
) -> dict[str, Any]:
    """events.patch (``replace=False``) or events.update (``replace=True``); changing an
    instance of a recurring event makes it an exception."""
    cal, event = get_stored(world, calendar_id, event_id, keep=True)
    if if_match is not None and if_match not in ("*", _etag(event)):
        raise EventError(412, "conditionNotMet", "Precondition Failed", location="If-Match")
    before = copy.deepcopy(event.body)
    writable = {k: body[k] for k in WRITABLE if k in body}
    if replace:
        new_body = copy.deepcopy(writable)
    else:
        new_body = copy.deepcopy(before)
        _merge(new_body, writable)
    if "start" not in new_body or "end" not in new_body:
        raise EventError(400, "required", "Missing end time.")
    try:
        event_bounds(new_body, cal.time_zone)
    except (KeyError, ValueError, ZoneInfoNotFoundError) as exc:
        raise EventError(400, "invalid", "Invalid start or end time.") from exc
    if event.recurring_event_id is not None:
        new_body.pop("recurrence", None)  # an instance cannot carry a rule of its own
    _check_recurrence(new_body, cal)
    _normalise_attendees(world, cal, new_body)
    if new_body.get("status") == "cancelled":
        event.cancelled = True
    elif event.cancelled:
        event.cancelled = False  # updating a deleted event restores it, as Google does
    if any(before.get(k) != new_body.get(k) for k in SIGNIFICANT):
        event.sequence += 1
    event.body = new_body
    _touch(world, cal, event)
    if event.recurring:
        _drop_lost_exceptions(world, cal, event)
    result = render(world, cal, event)
    _notify(world, cal.id)
    _rooms_answer(world, cal, event)
    return result


def _drop_lost_exceptions(world: World, cal: Calendar, master: StoredEvent) -> None:
    # A changed rule (an earlier UNTIL, other days) no longer has some instances: their
    # exceptions go with them, as cancelled.
    for other in cal.events.values():
        if other.recurring_event_id != master.id or other.cancelled:
            continue
        if recurring.find_instance(master.id, master.body, cal.time_zone, other.id) is None:
            other.cancelled = True
            _touch(world, cal, other)


def delete_event(world: World, calendar_id: str, event_id: str) -> None:
    """events.delete: 410 ``deleted`` if already deleted, 404 if it never existed.

    Deleting an instance cancels that occurrence only; deleting a recurring event cancels its
    exceptions too."""
    cal, event = get_stored(world, calendar_id, event_id, keep=True)
    if event.cancelled:
        raise EventError(410, "deleted", "Resource has been deleted")
    event.cancelled = True
    _touch(world, cal, event)
    if event.recurring:
        for other in cal.events.values():
            if other.recurring_event_id == event.id and not other.cancelled:
                other.cancelled = True
                _touch(world, cal, other)
    _notify(world, cal.id)


def set_response(
    world: World, calendar_id: str, event_id: str, attendee_email: str, response: str
) -> dict[str, Any]:
    """An attendee (a person or a room) answers; the organizer's copy changes."""
    cal, event = get_stored(world, calendar_id, event_id, keep=True)
    attendees = event.body.setdefault("attendees", [])
    for attendee in attendees:
        if attendee.get("email", "").lower() == attendee_email.lower():
            attendee["responseStatus"] = response
            break
    else:
        attendees.append({"email": attendee_email.lower(), "responseStatus": response})
    _touch(world, cal, event)
    result = render(world, cal, event)
    _notify(world, cal.id)
    return result


def _room_busy(
    world: World, room_email: str, event: StoredEvent, start: datetime, end: datetime
) -> bool:
    for cal in store(world).calendars.values():
        for other in cal.events.values():
            if other is event or other.cancelled:
                continue
            for attendee in other.body.get("attendees", []):
                if (
                    attendee.get("email") == room_email
                    and attendee.get("responseStatus") == "accepted"
                ):
                    o_start, o_end = event_bounds(other.body, cal.time_zone)
                    if o_start < end and start < o_end:
                        return True
    return False


def _rooms_answer(world: World, cal: Calendar, event: StoredEvent) -> None:
    # Rooms answer as a change of their own after the organizer's write, as in Google Calendar
    # where the resource's auto-accept arrives moments later (and triggers its own push). A room
    # whose answer still holds (same time, still free) produces no change.
    if event.cancelled:
        return
    state: GoogleState = google(world)
    start, end = event_bounds(event.body, cal.time_zone)
    for attendee in event.body.get("attendees", []):
        email = attendee.get("email", "")
        found = state.find_room(email)
        if found is None:
            continue
        policy = found[1].policy
        if policy == "never_answer":
            answer = "needsAction"
        elif policy == "decline_when_busy" and _room_busy(world, email, event, start, end):
            answer = "declined"
        else:
            answer = "accepted"
        if attendee.get("responseStatus") != answer:
            set_response(world, cal.id, event.id, email, answer)


def encode_token(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + secrets.token_hex(2)


def decode_token(token: str) -> dict[str, Any] | None:
    try:
        raw = token[:-4]
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
