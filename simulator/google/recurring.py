"""Recurring events in Calendar v3: RRULE/EXDATE/RDATE, instances, exceptions.

From the Event resource and the recurring-events guide
(https://developers.google.com/workspace/calendar/api/v3/reference/events,
https://developers.google.com/workspace/calendar/api/guides/recurringevents):

* ``recurrence`` is a list of RFC 5545 ``RRULE``, ``EXRULE``-free ``EXDATE`` and ``RDATE``
  lines; the series is expanded in the start's ``timeZone`` ("required for recurring events"),
  so an occurrence keeps its wall-clock time across daylight-saving changes.
* An instance's id is ``<recurring event id>_<original start>`` (``20300304T080000Z``, or
  ``20300304`` for all-day events); it carries ``recurringEventId`` and ``originalStartTime``.
* ``singleEvents=true`` lists instances instead of recurring events; without it, modified and
  cancelled instances are returned as events of their own next to the recurring event.
* Changing an instance stores it as an exception; deleting it leaves it ``cancelled``.

Expansion is python-dateutil's ``rruleset`` (never hand-written); only the EXDATE/RDATE values
are parsed here, because dateutil's parser refuses ``TZID`` on RDATE.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

# Instances listed for one recurring event at most (an open-ended series without a window).
EXPANSION_LIMIT = 730


class RecurrenceError(ValueError):
    """A recurrence Google would refuse (400 ``invalid``)."""


@dataclass(frozen=True)
class Instance:
    id: str
    original: datetime  # the original start (aware; a local midnight for all-day events)
    all_day: bool


def _zone(body: dict[str, Any], calendar_zone: str) -> tzinfo:
    return ZoneInfo(str(body["start"].get("timeZone") or calendar_zone))


def is_all_day(body: dict[str, Any]) -> bool:
    return "date" in body["start"] and "dateTime" not in body["start"]


def _start(body: dict[str, Any], tz: tzinfo) -> datetime:
    value = body["start"]
    if "date" in value and "dateTime" not in value:
        return datetime.combine(date.fromisoformat(value["date"]), datetime.min.time(), tz)
    moment = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=tz)
    return moment.astimezone(tz)


def _values(line: str, tz: tzinfo) -> list[datetime]:
    head, _, values = line.partition(":")
    params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
    zone = ZoneInfo(params["TZID"]) if "TZID" in params else tz
    out = []
    for value in values.split(","):
        value = value.strip()
        if params.get("VALUE") == "DATE" or len(value) == 8:
            out.append(datetime.strptime(value, "%Y%m%d").replace(tzinfo=zone))
        elif value.endswith("Z"):
            out.append(datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC))
        else:
            out.append(datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=zone))
    return out


def ruleset(body: dict[str, Any], calendar_zone: str) -> rrule.rruleset:
    """The series of ``body`` as a dateutil ``rruleset`` of aware local datetimes."""
    tz = _zone(body, calendar_zone)
    first = _start(body, tz)
    result = rrule.rruleset()
    lines = body.get("recurrence") or []
    if not isinstance(lines, list):
        raise RecurrenceError("recurrence must be a list of RFC 5545 lines")
    has_rule = any(str(x).startswith("RRULE") for x in lines)
    if not has_rule and not any(str(x).startswith("RDATE") for x in lines):
        raise RecurrenceError("recurrence needs an RRULE or RDATE line")
    if not has_rule:
        result.rdate(first)  # a series of RDATEs starts with the event's own start
    try:
        for raw in lines:
            line = str(raw).strip()
            name = line.split(":", 1)[0].split(";", 1)[0].upper()
            if name == "RRULE":
                result.rrule(rrule.rrulestr(line, dtstart=first))
            elif name == "EXDATE":
                for moment in _values(line, tz):
                    result.exdate(moment)
            elif name == "RDATE":
                for moment in _values(line, tz):
                    result.rdate(moment)
            else:
                raise RecurrenceError(f"unsupported recurrence line {name}")
    except (ValueError, KeyError) as exc:
        raise RecurrenceError(str(exc)) from exc
    return result


def instance_id(event_id: str, original: datetime, all_day: bool) -> str:
    if all_day:
        return f"{event_id}_{original:%Y%m%d}"
    return f"{event_id}_{original.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def duration(body: dict[str, Any], calendar_zone: str) -> timedelta:
    """Wall-clock length of the event (so an occurrence ends at the same local time)."""
    tz = _zone(body, calendar_zone)
    end_body = {"start": body["end"]}
    return _start(end_body, tz).replace(tzinfo=None) - _start(body, tz).replace(tzinfo=None)


def instances(
    event_id: str,
    body: dict[str, Any],
    calendar_zone: str,
    time_min: datetime | None,
    time_max: datetime | None,
) -> list[Instance]:
    """Instances whose span overlaps ``[time_min, time_max)`` (``None``: unbounded, capped
    at :data:`EXPANSION_LIMIT`)."""
    rules = ruleset(body, calendar_zone)
    length = duration(body, calendar_zone)
    all_day = is_all_day(body)
    out: list[Instance] = []
    for original in rules:
        start = original.astimezone(UTC)
        end = (original.replace(tzinfo=None) + length).replace(tzinfo=original.tzinfo)
        if time_max is not None and start >= time_max:
            break
        if time_min is not None and end.astimezone(UTC) <= time_min:
            continue
        out.append(Instance(instance_id(event_id, original, all_day), original, all_day))
        if len(out) >= EXPANSION_LIMIT:
            break
    return out


def find_instance(
    event_id: str, body: dict[str, Any], calendar_zone: str, instance: str
) -> Instance | None:
    """The instance ``instance`` of the series, if the rule produces it."""
    _, _, stamp = instance.rpartition("_")
    try:
        if len(stamp) == 8:
            tz = _zone(body, calendar_zone)
            moment = datetime.strptime(stamp, "%Y%m%d").replace(tzinfo=tz)
        else:
            moment = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    for found in instances(
        event_id, body, calendar_zone, moment - timedelta(seconds=1), moment + timedelta(seconds=1)
    ):
        if found.id == instance:
            return found
    return None


def point(moment: datetime, template: dict[str, Any], all_day: bool) -> dict[str, Any]:
    """A start/end object like ``template`` (same zone field) at ``moment``."""
    out: dict[str, Any] = {}
    if all_day:
        out["date"] = moment.date().isoformat()
    else:
        out["dateTime"] = moment.isoformat()
    if template.get("timeZone"):
        out["timeZone"] = template["timeZone"]
    return out


def instance_body(
    body: dict[str, Any], found: Instance, calendar_zone: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The client-visible body of one instance (without ``recurrence``) and its
    ``originalStartTime``."""
    length = duration(body, calendar_zone)
    start = found.original
    end = (start.replace(tzinfo=None) + length).replace(tzinfo=start.tzinfo)
    out = {k: copy.deepcopy(v) for k, v in body.items() if k != "recurrence"}
    out["start"] = point(start, body["start"], found.all_day)
    out["end"] = point(end, body["end"], found.all_day)
    return out, point(start, body["start"], found.all_day)
