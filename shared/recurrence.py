"""Host-app recurrence: the subset of RFC 5545 RRULE that Graph and Google can both express.

Google takes RRULE lines as they are (Event resource, ``recurrence``); Graph takes a
``patternedRecurrence`` (https://learn.microsoft.com/graph/api/resources/patternedrecurrence).
A rule is accepted only when it maps onto one of Graph's six pattern types and three range
types, so that a series means the same thing in both calendars:

=============================================  =======================================
RRULE                                          Graph pattern
=============================================  =======================================
``FREQ=DAILY``                                 ``daily``
``FREQ=WEEKLY;BYDAY=MO,WE``                    ``weekly`` (daysOfWeek)
``FREQ=MONTHLY[;BYMONTHDAY=d]``                ``absoluteMonthly`` (dayOfMonth)
``FREQ=MONTHLY;BYDAY=2TU`` (1..4 or -1)        ``relativeMonthly`` (daysOfWeek, index)
``FREQ=YEARLY[;BYMONTH=m;BYMONTHDAY=d]``       ``absoluteYearly`` (month, dayOfMonth)
``FREQ=YEARLY;BYMONTH=m;BYDAY=-1FR``           ``relativeYearly``
=============================================  =======================================

``INTERVAL`` maps to ``interval``; ``COUNT`` to a ``numbered`` range, ``UNTIL`` to ``endDate``
and no end to ``noEnd``. ``UNTIL`` is a date (``20301231``), the last day an occurrence may
start on in the event's zone (Graph's ``endDate`` is a date; Google gets the end of that day in
UTC). Anything else (``BYSETPOS``, ``BYHOUR``, several month days, ``COUNT`` with ``UNTIL``,
``FREQ=HOURLY``...) is refused with an error naming the part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from dateutil import rrule

from shared import timezones

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
GRAPH_DAYS = {
    "MO": "monday",
    "TU": "tuesday",
    "WE": "wednesday",
    "TH": "thursday",
    "FR": "friday",
    "SA": "saturday",
    "SU": "sunday",
}
GRAPH_INDEX = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
KNOWN = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "COUNT", "UNTIL", "WKST")


class RuleError(ValueError):
    """A rule outside the subset both providers express; the message names the part."""


@dataclass(frozen=True)
class Rule:
    """A parsed rule. ``days`` are weekday codes; ``index`` is set for relative patterns."""

    freq: str
    interval: int = 1
    days: tuple[str, ...] = ()
    index: int | None = None
    month_day: int | None = None
    month: int | None = None
    count: int | None = None
    until: date | None = None

    def rrule(self) -> str:
        """The canonical RRULE text (without ``UNTIL``'s time: see :func:`google_lines`)."""
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.days:
            prefix = str(self.index) if self.index is not None else ""
            parts.append("BYDAY=" + ",".join(prefix + d for d in self.days))
        if self.month is not None:
            parts.append(f"BYMONTH={self.month}")
        if self.month_day is not None:
            parts.append(f"BYMONTHDAY={self.month_day}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until:%Y%m%d}")
        return "RRULE:" + ";".join(parts)


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise RuleError(f"{name} must be a number") from exc
    if not low <= number <= high:
        raise RuleError(f"{name} must be between {low} and {high}")
    return number


def parse(text: str) -> Rule:
    """Parse and check ``text`` (with or without the ``RRULE:`` prefix)."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or "\n" in body:
        raise RuleError("one RRULE is expected")
    parts: dict[str, str] = {}
    for item in body.split(";"):
        name, sep, value = item.partition("=")
        name = name.strip().upper()
        if not sep or not value:
            raise RuleError(f"malformed part {item!r}")
        if name not in KNOWN:
            raise RuleError(f"{name} is not supported by both calendars")
        if name in parts:
            raise RuleError(f"{name} is given twice")
        parts[name] = value.strip().upper()
    freq = parts.get("FREQ", "")
    if freq not in FREQS:
        raise RuleError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RuleError("COUNT and UNTIL cannot both be given")
    interval = _int("INTERVAL", parts.get("INTERVAL", "1"), 1, 99)
    days: tuple[str, ...] = ()
    index: int | None = None
    if "BYDAY" in parts:
        raw = [d.strip() for d in parts["BYDAY"].split(",")]
        if freq == "WEEKLY":
            if any(d not in DAYS for d in raw):
                raise RuleError("BYDAY of a weekly rule lists weekdays (MO..SU)")
            days = tuple(sorted(set(raw), key=DAYS.index))
        elif freq in ("MONTHLY", "YEARLY"):
            if len(raw) != 1 or raw[0][-2:] not in DAYS:
                raise RuleError("BYDAY of a monthly or yearly rule is one day like 2TU or -1FR")
            index = _int("BYDAY", raw[0][:-2] or "x", -1, 4)
            if index == 0:
                raise RuleError("BYDAY's position is 1 to 4 or -1")
            days = (raw[0][-2:],)
        else:
            raise RuleError("BYDAY is not supported with FREQ=DAILY")
    month_day = None
    if "BYMONTHDAY" in parts:
        if freq not in ("MONTHLY", "YEARLY") or "BYDAY" in parts:
            raise RuleError("BYMONTHDAY goes with a monthly or yearly rule without BYDAY")
        month_day = _int("BYMONTHDAY", parts["BYMONTHDAY"], 1, 31)
    month = None
    if "BYMONTH" in parts:
        if freq != "YEARLY":
            raise RuleError("BYMONTH goes with FREQ=YEARLY")
        month = _int("BYMONTH", parts["BYMONTH"], 1, 12)
    if freq == "YEARLY" and index is not None and month is None:
        raise RuleError("a yearly rule with BYDAY needs BYMONTH")
    count = _int("COUNT", parts["COUNT"], 1, 999) if "COUNT" in parts else None
    until = None
    if "UNTIL" in parts:
        try:
            until = datetime.strptime(parts["UNTIL"][:8], "%Y%m%d").date()
        except ValueError as exc:
            raise RuleError("UNTIL must be a date like 20301231") from exc
        if len(parts["UNTIL"]) != 8:
            raise RuleError("UNTIL must be a date like 20301231 (the last day, local)")
    return Rule(freq, interval, days, index, month_day, month, count, until)


def complete(rule: Rule, start_local: datetime) -> Rule:
    """Fill what Graph needs explicitly from the series' first local start: the weekday of a
    weekly rule, the day (and month) of an absolute monthly or yearly rule."""
    weekday = DAYS[start_local.weekday()]
    if rule.freq == "WEEKLY" and not rule.days:
        return Rule(**{**rule.__dict__, "days": (weekday,)})
    if rule.freq in ("MONTHLY", "YEARLY") and rule.index is None and rule.month_day is None:
        rule = Rule(**{**rule.__dict__, "month_day": start_local.day})
    if rule.freq == "YEARLY" and rule.month is None:
        rule = Rule(**{**rule.__dict__, "month": start_local.month})
    return rule


def graph_recurrence(text: str, start: datetime, zone_name: str) -> dict[str, Any]:
    """The ``patternedRecurrence`` for ``text`` starting at ``start`` in ``zone_name``."""
    tz = timezones.zone(zone_name)
    local = start.astimezone(tz)
    rule = complete(parse(text), local)
    relative = rule.index is not None
    kind = {
        "DAILY": "daily",
        "WEEKLY": "weekly",
        "MONTHLY": "relativeMonthly" if relative else "absoluteMonthly",
        "YEARLY": "relativeYearly" if relative else "absoluteYearly",
    }[rule.freq]
    pattern: dict[str, Any] = {"type": kind, "interval": rule.interval}
    if rule.days:
        pattern["daysOfWeek"] = [GRAPH_DAYS[d] for d in rule.days]
    if relative:
        pattern["index"] = GRAPH_INDEX[rule.index or 1]
    if rule.month_day is not None:
        pattern["dayOfMonth"] = rule.month_day
    if rule.month is not None:
        pattern["month"] = rule.month
    span: dict[str, Any] = {
        "startDate": local.date().isoformat(),
        "recurrenceTimeZone": timezones.iana_name(zone_name),
    }
    if rule.count is not None:
        span.update(type="numbered", numberOfOccurrences=rule.count)
    elif rule.until is not None:
        span.update(type="endDate", endDate=rule.until.isoformat())
    else:
        span["type"] = "noEnd"
    return {"pattern": pattern, "range": span}


def google_lines(text: str, start: datetime, zone_name: str, *, all_day: bool) -> list[str]:
    """The Event resource's ``recurrence`` for ``text``: one RRULE whose ``UNTIL`` is the end
    of the last day in the event's zone, in UTC (RFC 5545: UTC when the start has a zone), or
    the date itself for all-day events."""
    tz = timezones.zone(zone_name)
    rule = complete(parse(text), start.astimezone(tz))
    line = rule.rrule()
    if rule.until is not None:
        if all_day:
            stamp = f"{rule.until:%Y%m%d}"
        else:
            last = datetime.combine(rule.until, time.max, tz).astimezone(UTC)
            stamp = f"{last:%Y%m%dT%H%M%SZ}"
        line = line.replace(f"UNTIL={rule.until:%Y%m%d}", f"UNTIL={stamp}")
    return [line]


def occurrences(
    text: str,
    start: datetime,
    end: datetime,
    zone_name: str,
    window_start: datetime,
    window_end: datetime,
) -> list[tuple[datetime, datetime]]:
    """The series' occurrences overlapping the window, as UTC ``(start, end)`` pairs.

    Expanded by python-dateutil in the event's local wall-clock time (so 09:00 stays 09:00
    across DST), for the in-memory calendar and for checks; the providers expand on their own.
    """
    tz = timezones.zone(zone_name)
    local = start.astimezone(tz).replace(tzinfo=None)
    length = end.astimezone(tz).replace(tzinfo=None) - local
    rule = complete(parse(text), start.astimezone(tz))
    plain = Rule(**{**rule.__dict__, "until": None})
    expansion = rrule.rrulestr(plain.rrule(), dtstart=local)
    if rule.until is not None:
        expansion = expansion.replace(until=datetime.combine(rule.until, time.max))
    out = []
    for moment in expansion:
        begin = moment.replace(tzinfo=tz).astimezone(UTC)
        if begin >= window_end:
            break
        finish = (moment + length).replace(tzinfo=tz).astimezone(UTC)
        if finish > window_start:
            out.append((begin, finish))
    return out
