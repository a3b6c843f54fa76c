"""The ranges the HTTP edge accepts, in one place, and how they appear in the OpenAPI document.

A value is checked here before anything is stored or sent to a provider, so a request outside
these ranges is a 400 ``validation_failed`` naming the field, never a row that later breaks a
read. docs/decisions.md ("Input limits") records why each bound was chosen.

* Times: :data:`EARLIEST` to :data:`LATEST` (UTC). Far wider than any schedule, far inside what
  Table storage (1601-9999), Graph and Google accept, and wide enough that adding a window or a
  duration to a valid time can never overflow Python's ``datetime``.
* Event duration: at most :data:`MAX_EVENT_DURATION`.
* Identifiers: 1 to :data:`MAX_ID` characters; URLs at most :data:`MAX_URL` characters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_EVENT_DURATION = timedelta(days=366)
MAX_ID = 200
MAX_URL = 2000


def time_field(description: str, **kwargs: Any) -> Any:
    """A timezone-aware time within ``[EARLIEST, LATEST]``, documented in the schema.

    JSON Schema has no bound for ``date-time`` strings, so the bounds are stated in the
    description and as ``formatMinimum``/``formatMaximum`` (the keywords JSON Schema validators
    such as Ajv use for formatted strings).
    """
    return Field(
        ge=EARLIEST,
        le=LATEST,
        description=f"{description} (ISO 8601 with offset, "
        f"{EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} UTC)",
        json_schema_extra={
            "formatMinimum": EARLIEST.isoformat().replace("+00:00", "Z"),
            "formatMaximum": LATEST.isoformat().replace("+00:00", "Z"),
        },
        **kwargs,
    )
