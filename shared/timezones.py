"""Provider date-times to aware datetimes and back, in one place.

What the providers send (and what we must send back):

* **Microsoft Graph** ``dateTimeTimeZone`` (https://learn.microsoft.com/graph/api/resources/datetimetimezone):
  a local ``dateTime`` without offset plus a ``timeZone`` that may be a Windows name
  (``W. Europe Standard Time``) or an IANA name (``Europe/Amsterdam``); seven fractional digits.
  Windows names are mapped with the CLDR-derived table that ``tzlocal`` maintains
  (``tzlocal.windows_tz``, from CLDR's windowsZones.xml) and resolved with the IANA database
  (``zoneinfo``, backed by the ``tzdata`` package where the system has none). Both are pinned.
* **Google Calendar** ``EventDateTime`` (https://developers.google.com/workspace/calendar/api/v3/reference/events):
  ``dateTime`` (RFC 3339; "a time zone offset is required unless a time zone is explicitly
  specified in timeZone") or ``date`` for all-day events, with an optional IANA ``timeZone``;
  without one, the calendar's time zone applies.
* **All-day events** last from midnight to midnight in the zone of the event or of the person,
  never UTC midnight: a day off in Amsterdam is busy from 00:00 to 24:00 Amsterdam time.
* **Floating times** (a date-time without offset and without zone) are read in the zone the
  caller says applies (the calendar's), never silently in UTC.

An unknown zone name is an error naming the zone (:class:`shared.errors.UnknownTimeZone`), not a
silent fallback to UTC: a wrong guess would shift someone's busy time by hours without a trace.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

from shared.errors import UnknownTimeZone

# Graph writes seven fractional digits; Python reads at most six.
_FRACTION = re.compile(r"(\.\d{6})\d+")
# Names Graph and Outlook use for UTC that are not in CLDR's table.
_UTC_ALIASES = frozenset({"utc", "coordinated universal time", "tzone://microsoft/utc", "z"})


@lru_cache(maxsize=512)
def zone(name: str) -> tzinfo:
    """The tzinfo for an IANA or Windows time zone name.

    Raises :class:`UnknownTimeZone` (naming ``name``) when neither the IANA database nor the
    CLDR Windows table knows it.
    """
    cleaned = (name or "").strip()
    if not cleaned:
        raise UnknownTimeZone(name)
    if cleaned.lower() in _UTC_ALIASES:
        return UTC
    iana = win_tz.get(cleaned, cleaned)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZone(name) from exc


def iana_name(name: str) -> str:
    """The IANA name for an IANA or Windows name (``UnknownTimeZone`` when unknown)."""
    cleaned = (name or "").strip()
    found = zone(cleaned)
    if found is UTC:
        return "UTC"
    return win_tz.get(cleaned, cleaned)


def is_iana(name: str) -> bool:
    """Whether ``name`` is an IANA zone name the database knows (not a Windows name)."""
    cleaned = (name or "").strip()
    if not cleaned or cleaned in win_tz:
        return cleaned.upper() == "UTC"
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def windows_name(name: str) -> str | None:
    """The Windows name CLDR maps an IANA zone to, or ``None`` when it has none."""
    return "UTC" if iana_name(name) == "UTC" else tz_win.get(iana_name(name))


def parse_local(text: str, zone_name: str | None, *, default: tzinfo | None = None) -> datetime:
    """An ISO 8601 date-time as an aware datetime.

    An explicit offset wins; otherwise the time is local to ``zone_name`` and, when that is
    absent too (a floating time), to ``default``. Raises ``ValueError`` for a malformed
    date-time and :class:`UnknownTimeZone` for an unknown zone or a floating time with no
    ``default``.
    """
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip().replace("Z", "+00:00")))
    if moment.tzinfo is not None:
        return moment
    if zone_name:
        return moment.replace(tzinfo=zone(zone_name))
    if default is None:
        raise UnknownTimeZone("", detail=f"the floating time {text} has no time zone")
    return moment.replace(tzinfo=default)


def day_start(day: date, tz: tzinfo) -> datetime:
    """Midnight at the start of ``day`` in ``tz`` (the first instant of the local day)."""
    return datetime.combine(day, time(0), tzinfo=tz)


def all_day_bounds(first: date, end: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """An all-day span as aware UTC datetimes: midnight of ``first`` to midnight of ``end``
    (the exclusive end date, as both providers write it) in ``tz``.

    In UTC because Python subtracts and compares two datetimes of the same ``tzinfo`` by wall
    clock: a local span across a DST change would claim 24 hours where the day has 23.
    """
    return day_start(first, tz).astimezone(UTC), day_start(end, tz).astimezone(UTC)


def from_graph(value: object, *, default: tzinfo = UTC) -> datetime | None:
    """A Graph ``dateTimeTimeZone`` as an aware UTC datetime (``None`` when absent).

    A missing ``timeZone`` is read in ``default`` (Graph answers in the ``Prefer``-ed zone).
    """
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    zone_name = value.get("timeZone")
    return parse_local(
        str(value["dateTime"]), str(zone_name) if zone_name else None, default=default
    ).astimezone(UTC)


def to_graph(moment: datetime, zone_name: str = "UTC") -> dict[str, str]:
    """``moment`` (aware) as a Graph ``dateTimeTimeZone`` in ``zone_name``.

    The zone is written under its IANA name, which Graph accepts (dateTimeTimeZone: "the time
    zone can be any of the supported values"; IANA names are listed there), so the wall-clock
    time is kept in that zone across daylight-saving changes.
    """
    name = iana_name(zone_name)
    local = moment.astimezone(zone(name)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": name}


def from_google(
    value: dict[str, object], *, calendar_zone: str | None = None
) -> tuple[datetime, bool]:
    """A Google ``EventDateTime`` as an aware datetime, and whether it is an all-day date.

    ``date`` values are midnight in the value's ``timeZone``, else the calendar's zone (UTC when
    neither is known, which is what Google assumes for a calendar without a zone).
    """
    zone_name = value.get("timeZone") or calendar_zone
    if value.get("dateTime"):
        return parse_local(
            str(value["dateTime"]), str(zone_name) if zone_name else None, default=UTC
        ), False
    if not value.get("date"):
        raise ValueError("an EventDateTime without dateTime or date")
    day = date.fromisoformat(str(value["date"]))
    return day_start(day, zone(str(zone_name)) if zone_name else UTC).astimezone(UTC), True


def to_google(moment: datetime, zone_name: str = "UTC", *, all_day: bool = False) -> dict[str, str]:
    """``moment`` as a Google ``EventDateTime``: local date-time plus IANA ``timeZone``, or
    the local ``date`` for all-day events."""
    name = iana_name(zone_name)
    local = moment.astimezone(zone(name))
    if all_day:
        return {"date": local.date().isoformat(), "timeZone": name}
    return {"dateTime": local.replace(tzinfo=None).isoformat(timespec="seconds"), "timeZone": name}


def local_day_span(moment: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The local day in ``tz`` that contains ``moment``, in UTC (23 or 25 hours across DST)."""
    day = moment.astimezone(tz).date()
    return all_day_bounds(day, day + timedelta(days=1), tz)


__all__ = [
    "UnknownTimeZone",
    "all_day_bounds",
    "day_start",
    "from_google",
    "from_graph",
    "iana_name",
    "is_iana",
    "local_day_span",
    "parse_local",
    "to_google",
    "to_graph",
    "windows_name",
    "zone",
]
