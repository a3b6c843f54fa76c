"""Graph's ``dateTimeTimeZone`` values and the ``Prefer: outlook.timezone`` header.

Events are stored in UTC. Graph accepts IANA and Windows time zone names in
``start.timeZone``/``end.timeZone`` and in ``Prefer: outlook.timezone="..."``, and writes
``dateTime`` with seven fractional digits (``2017-04-15T12:00:00.0000000``), as in the examples of
https://learn.microsoft.com/graph/api/resources/datetimetimezone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

from simulator.microsoft.graph.errors import GraphError

# Windows zone names are mapped with CLDR's windowsZones table as tzlocal maintains it; Graph
# knows all of them, plus the UTC spellings below.
WINDOWS_ZONES = {**win_tz, "UTC": "UTC", "Coordinated Universal Time": "UTC"}

_PREFER_TZ = re.compile(r'outlook\.timezone\s*=\s*"?([^";,]+)"?', re.IGNORECASE)


def zone(name: str) -> tzinfo:
    """A tzinfo for an IANA or Windows time zone name; 400 for unknown names."""
    name = name.strip()
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. "
            f"The following TimeZone value is not supported: '{name}'.",
        ) from exc


def preferred_zone(prefer_header: str | None) -> str | None:
    """The time zone named by ``Prefer: outlook.timezone="..."``, if any."""
    if not prefer_header:
        return None
    match = _PREFER_TZ.search(prefer_header)
    return match.group(1).strip() if match else None


def parse_local(value: str, tz: tzinfo) -> datetime:
    """An ISO 8601 date-time; without an offset it is read in ``tz``. Returns UTC."""
    text = value.strip().replace("Z", "+00:00")
    # Python accepts at most 6 fractional digits; Graph writes 7.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value '{value}' is not a valid date-time."
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def parse_dtz(value: Any, field_name: str) -> datetime:
    """A ``dateTimeTimeZone`` object (``{"dateTime", "timeZone"}``) as an aware UTC datetime."""
    if not isinstance(value, dict) or "dateTime" not in value:
        raise GraphError(
            400, "ErrorInvalidRequest", f"The property '{field_name}' must be a dateTimeTimeZone."
        )
    return parse_local(str(value["dateTime"]), zone(str(value.get("timeZone") or "UTC")))


def format_dt(moment: datetime, tz_name: str = "UTC") -> dict[str, str]:
    """``{"dateTime", "timeZone"}`` for ``moment`` expressed in ``tz_name``."""
    local = moment.astimezone(zone(tz_name)).replace(tzinfo=None)
    return {
        "dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0",
        "timeZone": tz_name,
    }


def iso_utc(moment: datetime) -> str:
    """A timestamp like ``createdDateTime``: UTC with seven fractional digits and ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"
