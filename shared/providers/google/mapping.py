"""Calendar v3 ``Event`` resources to and from the provider-neutral value types (no I/O).

Field meanings follow the events resource reference
(https://developers.google.com/workspace/calendar/api/v3/reference/events):
``transparency`` ``opaque``/``transparent`` is busy/free, ``eventType`` ``outOfOffice`` and
``workingLocation`` have their own free/busy meaning, deleted events come back as
``status: cancelled`` with little more than their id, and ``extendedProperties.private`` is
visible only to the calendar that stores it (our marker for the service's own events).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import recurrence, timezones
from shared.providers.base import (
    Attendee,
    Change,
    EventDraft,
    EventView,
    Response,
    ShowAs,
    WrittenEvent,
)
from shared.providers.google.ids import event_id

# The private extended property that marks events the service created.
APP_REF_PROPERTY = "calendarIntegrationRef"

_RESPONSES: dict[str, Response] = {
    "needsAction": "none",
    "accepted": "accepted",
    "tentative": "tentative",
    "declined": "declined",
}


def parse_when(value: dict[str, Any], calendar_zone: str | None = None) -> tuple[datetime, bool]:
    """A start/end object as an aware datetime, and whether it is an all-day date.

    All-day ``date`` values are midnight in the calendar's time zone (the events.list
    response's ``timeZone``, or calendars.get), not UTC midnight: a day off in Amsterdam is
    busy from 00:00 to 24:00 Amsterdam time. Unknown zone names raise ``UnknownTimeZone``.
    """
    return timezones.from_google(value, calendar_zone=calendar_zone)


def is_all_day(event: dict[str, Any]) -> bool:
    """Whether ``event`` is an all-day event (``start.date`` rather than ``start.dateTime``)."""
    return "date" in (event.get("start") or {}) and "dateTime" not in (event.get("start") or {})


def _attendees(event: dict[str, Any]) -> tuple[Attendee, ...]:
    result = []
    for item in event.get("attendees", []):
        if item.get("resource"):
            kind: Any = "resource"
        elif item.get("optional"):
            kind = "optional"
        else:
            kind = "required"
        response: Response = (
            "organizer"
            if item.get("organizer")
            else _RESPONSES.get(item.get("responseStatus", ""), "none")
        )
        result.append(
            Attendee(
                email=str(item.get("email", "")).lower(),
                name=str(item.get("displayName", "")),
                kind=kind,
                response=response,
            )
        )
    return tuple(result)


def show_as(event: dict[str, Any]) -> ShowAs:
    """Free/busy meaning of an event for its calendar's owner."""
    kind = event.get("eventType")
    if kind == "outOfOffice":
        return "oof"
    if kind == "workingLocation":
        return "workingElsewhere"
    if event.get("transparency") == "transparent":
        return "free"
    for item in event.get("attendees", []):
        if item.get("self") and item.get("responseStatus") == "tentative":
            return "tentative"
    return "busy"


def app_ref(event: dict[str, Any]) -> str | None:
    value = event.get("extendedProperties", {}).get("private", {}).get(APP_REF_PROPERTY)
    return str(value) if value is not None else None


def to_view(event: dict[str, Any], calendar_zone: str | None = None) -> EventView:
    start, all_day = parse_when(event["start"], calendar_zone)
    end, _ = parse_when(event["end"], calendar_zone)
    return EventView(
        id=str(event["id"]),
        subject=str(event.get("summary", "")),
        start=start,
        end=end,
        is_all_day=all_day,
        location=str(event.get("location", "")),
        organizer=str(event.get("organizer", {}).get("email", "")).lower(),
        attendees=_attendees(event),
        show_as=show_as(event),
        is_cancelled=event.get("status") == "cancelled",
        web_link=str(event.get("htmlLink", "")),
        ical_uid=str(event.get("iCalUID", "")),
        change_key=str(event.get("etag", "")),
        app_ref=app_ref(event),
        time_zone=str(event["start"].get("timeZone") or calendar_zone or ""),
    )


def to_written(event: dict[str, Any]) -> WrittenEvent:
    return WrittenEvent(
        id=str(event["id"]),
        change_key=str(event.get("etag", "")),
        ical_uid=str(event.get("iCalUID", "")),
    )


def to_change(event: dict[str, Any], calendar_zone: str | None = None) -> Change:
    """One events.list item as a sync change; ``cancelled`` means deleted from this calendar.

    ``calendar_zone`` is the calendar's time zone (all-day dates are read in it)."""
    series = str(event.get("recurringEventId") or "")
    original = (
        parse_when(event["originalStartTime"], calendar_zone)[0]
        if event.get("originalStartTime")
        else None
    )
    if event.get("status") == "cancelled" or "start" not in event:
        return Change(
            id=str(event["id"]),
            removed=True,
            is_cancelled=True,
            change_key=str(event.get("etag", "")),
            app_ref=app_ref(event),
            series_id=series,
            original_start=original,
        )
    start, _ = parse_when(event["start"], calendar_zone)
    end, _ = parse_when(event["end"], calendar_zone)
    return Change(
        id=str(event["id"]),
        start=start,
        end=end,
        show_as=show_as(event),
        change_key=str(event.get("etag", "")),
        app_ref=app_ref(event),
        attendees=tuple(
            Attendee(email=a.email, kind=a.kind, response=a.response) for a in _attendees(event)
        ),
        series_id=series,
        original_start=original,
        time_zone=str(event["start"].get("timeZone") or calendar_zone or ""),
    )


def is_series(event: dict[str, Any]) -> bool:
    """A recurring event itself (it has ``recurrence``), not one of its instances."""
    return bool(event.get("recurrence")) and not event.get("recurringEventId")


def _point(moment: datetime, time_zone: str, all_day: bool = False) -> dict[str, str]:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezones.zone(time_zone or "UTC"))
    return timezones.to_google(moment, time_zone or "UTC", all_day=all_day)


def draft_body(draft: EventDraft) -> dict[str, Any]:
    """The writable fields of ``draft`` (no ``id``: see :func:`insert_body`)."""
    attendees = []
    for person in draft.attendees:
        item: dict[str, Any] = {"email": person.email}
        if person.name:
            item["displayName"] = person.name
        if person.kind == "resource":
            item["resource"] = True
        elif person.kind == "optional":
            item["optional"] = True
        attendees.append(item)
    return {
        "summary": draft.subject,
        "description": draft.body,
        "location": draft.location,
        "start": _point(draft.start, draft.time_zone, draft.all_day),
        "end": _point(draft.end, draft.time_zone, draft.all_day),
        # A series is one recurring event in the start's zone; [] makes it single again.
        "recurrence": (
            recurrence.google_lines(
                draft.recurrence, draft.start, draft.time_zone, all_day=draft.all_day
            )
            if draft.recurrence
            else []
        ),
        "attendees": attendees,
        "transparency": "transparent" if draft.show_as == "free" else "opaque",
        "extendedProperties": {"private": {APP_REF_PROPERTY: draft.app_ref}},
    }


def insert_body(draft: EventDraft) -> dict[str, Any]:
    """The events.insert body, with the client-supplied id derived from ``draft.key``."""
    return {"id": event_id(draft.key), **draft_body(draft)}
