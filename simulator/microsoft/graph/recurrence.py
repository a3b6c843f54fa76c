"""Recurring series: ``patternedRecurrence`` on a series master, its occurrences and exceptions.

Graph's model (https://learn.microsoft.com/graph/api/resources/patternedrecurrence,
https://learn.microsoft.com/graph/api/resources/recurrencepattern,
https://learn.microsoft.com/graph/api/resources/recurrencerange,
https://learn.microsoft.com/graph/outlook-schedule-recurring-events):

* A **series master** (``type: seriesMaster``) carries ``recurrence``: a pattern (``daily``,
  ``weekly``, ``absoluteMonthly``, ``relativeMonthly``, ``absoluteYearly``, ``relativeYearly``,
  with ``interval``, ``daysOfWeek``, ``dayOfMonth``, ``month``, ``index``, ``firstDayOfWeek``)
  and a range (``endDate``, ``numbered`` with ``numberOfOccurrences``, ``noEnd``), in the
  range's ``recurrenceTimeZone``: occurrences keep the master's wall-clock time in that zone.
* **Occurrences** (``type: occurrence``) are not stored: ``calendarView`` and
  ``/events/{id}/instances`` expand the master inside the requested window. Each has
  ``seriesMasterId`` and ``originalStart`` (UTC) and an id of its own.
* Editing one occurrence makes it an **exception** (``type: exception``), stored with the same
  id; deleting one removes it from the series (a cancelled occurrence).

The expansion is python-dateutil's ``rrule`` (RFC 5545), never hand-written; the pattern is only
translated into its parameters here.
"""

from __future__ import annotations

import base64
import copy
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil import rrule

from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.state import StoredEvent
from simulator.microsoft.graph.times import zone

DAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
PATTERNS = {
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
}
RANGES = {"endDate", "noEnd", "numbered"}
# An open-ended series is expanded at most this far (Outlook shows series without an end too,
# but no request asks for more than a window).
EXPANSION_LIMIT = 5000


def _invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


def validate(recurrence: Any) -> dict[str, Any]:
    """A ``patternedRecurrence`` as Graph would store it; 400 for what Graph refuses."""
    if not isinstance(recurrence, dict):
        raise _invalid("recurrence must be a patternedRecurrence.")
    pattern = dict(recurrence.get("pattern") or {})
    span = dict(recurrence.get("range") or {})
    kind = pattern.get("type")
    if kind not in PATTERNS:
        raise _invalid(f"Invalid recurrence pattern type '{kind}'.")
    interval = pattern.get("interval", 1)
    if not isinstance(interval, int) or interval < 1:
        raise _invalid("The recurrence pattern interval must be a positive integer.")
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or []]
    if any(d not in DAYS for d in days):
        raise _invalid("Invalid daysOfWeek value.")
    if kind in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise _invalid(f"A {kind} pattern needs daysOfWeek.")
    if kind in ("absoluteMonthly", "absoluteYearly") and not pattern.get("dayOfMonth"):
        raise _invalid(f"A {kind} pattern needs dayOfMonth.")
    if kind in ("absoluteYearly", "relativeYearly") and not pattern.get("month"):
        raise _invalid(f"A {kind} pattern needs month.")
    if span.get("type") not in RANGES:
        raise _invalid(f"Invalid recurrence range type '{span.get('type')}'.")
    try:
        date.fromisoformat(str(span.get("startDate")))
        if span["type"] == "endDate":
            date.fromisoformat(str(span.get("endDate")))
    except ValueError as exc:
        raise _invalid("The recurrence range needs valid startDate (and endDate).") from exc
    if span["type"] == "numbered" and int(span.get("numberOfOccurrences") or 0) < 1:
        raise _invalid("A numbered recurrence range needs numberOfOccurrences.")
    return {
        "pattern": {
            "type": kind,
            "interval": interval,
            "month": int(pattern.get("month") or 0),
            "dayOfMonth": int(pattern.get("dayOfMonth") or 0),
            "daysOfWeek": days,
            "firstDayOfWeek": str(pattern.get("firstDayOfWeek") or "sunday").lower(),
            "index": str(pattern.get("index") or "first"),
        },
        "range": {
            "type": span["type"],
            "startDate": str(span["startDate"]),
            "endDate": str(span.get("endDate") or "0001-01-01"),
            "recurrenceTimeZone": str(span.get("recurrenceTimeZone") or ""),
            "numberOfOccurrences": int(span.get("numberOfOccurrences") or 0),
        },
    }


def master_zone(master: StoredEvent) -> tzinfo:
    rec = master.data["recurrence"]
    name = rec["range"].get("recurrenceTimeZone") or master.data.get("originalStartTimeZone")
    return zone(str(name or "UTC"))


def rule(master: StoredEvent) -> rrule.rrule:
    """The dateutil rule of a master, in naive local time of the series' zone."""
    assert master.start is not None
    rec = master.data["recurrence"]
    pattern, span = rec["pattern"], rec["range"]
    tz = master_zone(master)
    local_start = master.start.astimezone(tz)
    first = datetime.combine(date.fromisoformat(span["startDate"]), local_start.time())
    days = [DAYS[d] for d in pattern["daysOfWeek"]]
    kind = pattern["type"]
    params: dict[str, Any] = {"dtstart": first, "interval": pattern["interval"]}
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        freq = rrule.WEEKLY
        params.update(byweekday=days, wkst=DAYS[pattern["firstDayOfWeek"]])
    elif kind == "absoluteMonthly":
        freq = rrule.MONTHLY
        params.update(bymonthday=pattern["dayOfMonth"])
    elif kind == "relativeMonthly":
        freq = rrule.MONTHLY
        params.update(byweekday=days, bysetpos=INDEX[pattern["index"]])
    elif kind == "absoluteYearly":
        freq = rrule.YEARLY
        params.update(bymonth=pattern["month"], bymonthday=pattern["dayOfMonth"])
    else:
        freq = rrule.YEARLY
        params.update(bymonth=pattern["month"], byweekday=days, bysetpos=INDEX[pattern["index"]])
    if span["type"] == "endDate":
        # The end date is inclusive: the last day an occurrence may start on.
        params["until"] = datetime.combine(date.fromisoformat(span["endDate"]), time.max)
    elif span["type"] == "numbered":
        params["count"] = span["numberOfOccurrences"]
    return rrule.rrule(freq, **params)


def occurrence_id(master_id: str, original_start: datetime) -> str:
    """A stable id per (series, original start), URL-safe like Exchange ids."""
    stamp = original_start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    tail = base64.urlsafe_b64encode(stamp.encode()).decode().rstrip("=")
    return f"{master_id}-{tail}"


def original_starts(master: StoredEvent, start: datetime, end: datetime) -> list[datetime]:
    """UTC original starts of the master's occurrences that overlap ``[start, end)``."""
    assert master.start is not None
    assert master.end is not None
    tz = master_zone(master)
    length = master.end.astimezone(tz).replace(tzinfo=None) - master.start.astimezone(tz).replace(
        tzinfo=None
    )
    lo = (start.astimezone(tz).replace(tzinfo=None)) - length - timedelta(days=1)
    hi = end.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
    found = []
    for local in rule(master).between(lo, hi, inc=True)[:EXPANSION_LIMIT]:
        begin = local.replace(tzinfo=tz).astimezone(UTC)
        finish = (local + length).replace(tzinfo=tz).astimezone(UTC)
        if (begin < end and start < finish) or (begin == finish and start <= begin < end):
            found.append(begin)
    return found


def occurrence(master: StoredEvent, original: datetime) -> StoredEvent:
    """The virtual occurrence of ``master`` that originally starts at ``original`` (UTC)."""
    assert master.start is not None
    assert master.end is not None
    tz = master_zone(master)
    length = master.end.astimezone(tz).replace(tzinfo=None) - master.start.astimezone(tz).replace(
        tzinfo=None
    )
    local = original.astimezone(tz).replace(tzinfo=None)
    data = copy.deepcopy(master.data)
    ident = occurrence_id(master.id, original)
    data.update(
        id=ident,
        type="occurrence",
        seriesMasterId=master.id,
        recurrence=None,
        originalStart=original.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # Each instance of a series has an iCalUId of its own in Graph.
        iCalUId=f"{master.data['iCalUId']}{original.astimezone(UTC):%Y%m%d}",
    )
    return StoredEvent(
        id=ident,
        mailbox_id=master.mailbox_id,
        data=data,
        version=master.version,
        start=original,
        end=(local + length).replace(tzinfo=tz).astimezone(UTC),
    )


def all_original_ids(master: StoredEvent, start: datetime, end: datetime) -> dict[str, datetime]:
    """Occurrence id -> original start, for the occurrences of the rule in ``[start, end)``
    (cancelled ones and exceptions included)."""
    return {occurrence_id(master.id, s): s for s in original_starts(master, start, end)}
