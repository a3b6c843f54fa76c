"""Graph JSON <-> the provider-neutral value types of :mod:`shared.providers.base`.

Resources: event (https://learn.microsoft.com/graph/api/resources/event), attendee and
responseStatus, dateTimeTimeZone, place/room, subscription. We always ask for times in UTC
(``Prefer: outlook.timezone="UTC"``); other zones (Windows or IANA names) are still read
correctly when present, through :mod:`shared.timezones`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, cast

from shared import recurrence, timezones
from shared.providers.base import (
    Attendee,
    AttendeeKind,
    Change,
    EventDraft,
    EventView,
    Profile,
    Response,
    RoomInfo,
    ShowAs,
    Subscription,
    WrittenEvent,
)

# Our marker on events the service writes: a single-value extended property in a GUID namespace
# of our own (https://learn.microsoft.com/graph/api/resources/extended-properties-overview).
# The GUID is fixed forever: changing it would make every event written before unrecognisable.
APP_REF_PROPERTY = "String {4f3c2a71-9d8e-4b6a-a5c0-7e1d2f9b8c36} Name calendarIntegrationRef"
EXPAND_APP_REF = f"singleValueExtendedProperties($filter=id eq '{APP_REF_PROPERTY}')"

_SHOW_AS: frozenset[str] = frozenset(
    {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}
)
_RESPONSES: dict[str, Response] = {
    "none": "none",
    "notResponded": "none",
    "organizer": "organizer",
    "accepted": "accepted",
    "tentativelyAccepted": "tentative",
    "declined": "declined",
}
_KINDS: frozenset[str] = frozenset({"required", "optional", "resource"})
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_dtz(value: Any) -> datetime | None:
    """A Graph ``dateTimeTimeZone`` as an aware UTC datetime (``None`` when absent).

    Windows and IANA zone names are both read (:mod:`shared.timezones`); an unknown name raises
    ``UnknownTimeZone`` naming it instead of being taken for UTC.
    """
    return timezones.from_graph(value)


def format_dtz(moment: datetime, time_zone: str = "UTC") -> dict[str, str]:
    """``moment`` (aware) as a ``dateTimeTimeZone`` in ``time_zone`` (IANA or Windows name)."""
    return timezones.to_graph(moment, time_zone)


def event_zone(raw: dict[str, Any]) -> str:
    """The zone an event was created in: ``originalStartTimeZone``, else ``start.timeZone``."""
    for name in (raw.get("originalStartTimeZone"), (raw.get("start") or {}).get("timeZone")):
        if name and str(name).lower() not in ("tzone://microsoft/custom", "customized time zone"):
            return str(name)
    return "UTC"


def zone_name(raw: dict[str, Any]) -> str:
    """The IANA name of the zone the event was created in, "" when Graph names none we know."""
    try:
        return timezones.iana_name(event_zone(raw))
    except timezones.UnknownTimeZone:
        return ""


def span(raw: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """Start and end of a Graph event as aware UTC datetimes.

    All-day events are dates, not instants: Graph returns them as midnight to midnight in the
    zone the event was created in, whatever ``Prefer: outlook.timezone`` asks for (event
    resource, ``isAllDay``: "start and end time must be set to midnight and be in the same time
    zone"). They are read as the whole local days in that zone (``originalStartTimeZone``), not
    as UTC midnight.
    """
    start_raw, end_raw = raw.get("start"), raw.get("end")
    if not raw.get("isAllDay"):
        return parse_dtz(start_raw), parse_dtz(end_raw)
    if not isinstance(start_raw, dict) or not isinstance(end_raw, dict):
        return None, None
    tz = timezones.zone(event_zone(raw))
    first = datetime.fromisoformat(str(start_raw["dateTime"])[:10]).date()
    last = datetime.fromisoformat(str(end_raw["dateTime"])[:10]).date()
    begin, finish = timezones.all_day_bounds(first, last, tz)
    return begin.astimezone(UTC), finish.astimezone(UTC)


def iso_z(moment: datetime) -> str:
    """An aware datetime as ``2026-11-21T10:00:00Z`` (query parameters, subscriptions)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: Any) -> datetime:
    text = _FRACTION.sub(r"\1", str(value).replace("Z", "+00:00"))
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def show_as(value: Any) -> ShowAs:
    return cast(ShowAs, value) if value in _SHOW_AS else "unknown"


def attendee(raw: dict[str, Any]) -> Attendee:
    address = raw.get("emailAddress") or {}
    status = (raw.get("status") or {}).get("response", "none")
    kind = raw.get("type", "required")
    return Attendee(
        email=str(address.get("address", "")),
        name=str(address.get("name", "") or ""),
        kind=cast(AttendeeKind, kind) if kind in _KINDS else "required",
        response=_RESPONSES.get(str(status), "none"),
    )


def needs_app_ref_lookup(raw: dict[str, Any]) -> bool:
    """A delta item that may be ours but came without our extended property.

    ``calendarView/delta`` does not support ``$expand`` (event-delta, "OData query
    parameters"), so Graph returns no extended properties there. Events we created carry a
    ``transactionId``; only those are worth one GET with ``$expand`` to read the marker.
    """
    return (
        "@removed" not in raw
        and bool(raw.get("transactionId"))
        and "singleValueExtendedProperties" not in raw
    )


def app_ref(raw: dict[str, Any]) -> str | None:
    """Our marker, when Graph returned the extended property (``$expand`` on reads)."""
    for prop in raw.get("singleValueExtendedProperties") or ():
        if str(prop.get("id", "")).lower() == APP_REF_PROPERTY.lower():
            return str(prop.get("value", ""))
    return None


def event_view(raw: dict[str, Any]) -> EventView:
    organizer = (raw.get("organizer") or {}).get("emailAddress") or {}
    start, end = span(raw)
    if start is None or end is None:
        raise ValueError("a Graph event without start or end")
    return EventView(
        id=str(raw["id"]),
        subject=str(raw.get("subject") or ""),
        start=start,
        end=end,
        is_all_day=bool(raw.get("isAllDay")),
        location=str((raw.get("location") or {}).get("displayName") or ""),
        organizer=str(organizer.get("address") or ""),
        attendees=tuple(attendee(a) for a in raw.get("attendees") or ()),
        show_as=show_as(raw.get("showAs", "busy")),
        is_cancelled=bool(raw.get("isCancelled")),
        web_link=str(raw.get("webLink") or ""),
        ical_uid=str(raw.get("iCalUId") or ""),
        change_key=str(raw.get("changeKey") or ""),
        app_ref=app_ref(raw),
        time_zone=zone_name(raw),
    )


def change(raw: dict[str, Any]) -> Change:
    """One delta item; ``@removed`` (deleted, or moved out of the window) is a removal."""
    if "@removed" in raw:
        return Change(id=str(raw["id"]), removed=True)
    start, end = span(raw)
    return Change(
        id=str(raw["id"]),
        start=start,
        end=end,
        show_as=show_as(raw.get("showAs", "busy")),
        is_cancelled=bool(raw.get("isCancelled")),
        change_key=str(raw.get("changeKey") or ""),
        app_ref=app_ref(raw),
        attendees=tuple(
            Attendee(email=a.email, kind=a.kind, response=a.response)
            for a in (attendee(x) for x in raw.get("attendees") or ())
        ),
        series_id=str(raw.get("seriesMasterId") or ""),
        time_zone=zone_name(raw),
        original_start=parse_iso(raw["originalStart"]) if raw.get("originalStart") else None,
    )


def written(raw: dict[str, Any]) -> WrittenEvent:
    return WrittenEvent(
        id=str(raw["id"]),
        change_key=str(raw.get("changeKey") or ""),
        ical_uid=str(raw.get("iCalUId") or ""),
    )


def draft_body(draft: EventDraft, *, create: bool) -> dict[str, Any]:
    """The POST (``create``) or PATCH body for a host-app event.

    Rooms are ``resource`` attendees and, when no location text is given, also the location
    (with ``locationEmailAddress``), which is how Outlook books a room.
    """
    attendees = [
        {"emailAddress": {"address": a.email, "name": a.name or a.email}, "type": a.kind}
        for a in draft.attendees
    ]
    location: dict[str, Any] = {"displayName": draft.location}
    room = next((a for a in draft.attendees if a.kind == "resource"), None)
    if not draft.location and room is not None:
        location = {
            "displayName": room.name or room.email,
            "locationEmailAddress": room.email,
            "locationType": "conferenceRoom",
        }
    body: dict[str, Any] = {
        "subject": draft.subject,
        "body": {"contentType": "text", "content": draft.body},
        "start": format_dtz(draft.start, draft.time_zone),
        "end": format_dtz(draft.end, draft.time_zone),
        "isAllDay": draft.all_day,
        # A series is one master; PATCHing it with null makes it a single event again.
        "recurrence": (
            recurrence.graph_recurrence(draft.recurrence, draft.start, draft.time_zone)
            if draft.recurrence
            else None
        ),
        "location": location,
        "attendees": attendees,
        "showAs": draft.show_as,
        "singleValueExtendedProperties": [{"id": APP_REF_PROPERTY, "value": draft.app_ref}],
    }
    if create:
        # Graph returns the first event again for a repeated transactionId instead of a
        # duplicate (event resource, "transactionId").
        body["transactionId"] = draft.key
    return body


def profile(raw: dict[str, Any]) -> Profile:
    return Profile(
        user_id=str(raw.get("id", "")),
        account=str(raw.get("mail") or raw.get("userPrincipalName") or ""),
        display_name=str(raw.get("displayName") or ""),
    )


def room(raw: dict[str, Any]) -> RoomInfo:
    capacity = raw.get("capacity")
    return RoomInfo(
        email=str(raw.get("emailAddress") or ""),
        name=str(raw.get("displayName") or ""),
        capacity=int(capacity) if isinstance(capacity, int) else None,
        building=str(raw.get("building") or ""),
    )


def subscription(raw: dict[str, Any]) -> Subscription:
    return Subscription(
        id=str(raw["id"]),
        expires_at=parse_iso(raw["expirationDateTime"]),
        resource=str(raw.get("resource") or ""),
    )
