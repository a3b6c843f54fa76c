"""Busy intervals of external calendar events: start, end and free/busy status, nothing else.

Table ``busy``: PartitionKey = calendar key, RowKey = the encoded provider event id. Fields:
``start``, ``end``, ``show_as``, ``round`` (the full listing that last saw the event, see
:mod:`shared.sync.cursors`) and ``series`` (for an occurrence of a recurring event, the
provider id of its series, so that occurrences a changed series no longer has are dropped).
Never a title, body, location or attendee: the product keeps no calendar content, only what
scheduling needs (seed 002: "external events as conflicts").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.storage.bulk import delete_entities, delete_partition
from shared.storage.keys import decode_key, encode_key
from shared.storage.tables import Entity, TableStore

BUSY = "busy"


@dataclass(frozen=True)
class BusyInterval:
    event_id: str
    start: datetime
    end: datetime
    show_as: str
    time_zone: str = ""  # the zone the event was created in ("" when unknown)


def _interval(entity: Entity) -> BusyInterval | None:
    start, end = entity.fields.get("start"), entity.fields.get("end")
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return BusyInterval(
        decode_key(entity.row_key),
        start,
        end,
        entity.get_str("show_as", "busy"),
        entity.get_str("time_zone"),
    )


class BusyStore:
    """The ``busy`` table."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def put(
        self,
        calendar: str,
        event_id: str,
        start: datetime,
        end: datetime,
        show_as: str,
        round_id: str,
        series: str = "",
        time_zone: str = "",
    ) -> None:
        """Create or replace the interval of one event or occurrence (idempotent)."""
        fields: dict[str, str | int | float | bool | datetime | None] = {
            "start": start,
            "end": end,
            "show_as": show_as,
            "round": round_id,
        }
        if series:
            fields["series"] = series
        if time_zone:
            fields["time_zone"] = time_zone
        self._tables.upsert(BUSY, Entity(calendar, encode_key(event_id), fields))

    def sweep_series(self, calendar: str, series: str, keep: Iterable[str]) -> int:
        """Delete the occurrences of ``series`` other than ``keep``; returns how many."""
        kept = {encode_key(k) for k in keep}
        stale = [
            e
            for e in self._tables.query(BUSY, calendar)
            if e.get_str("series") == series and e.row_key not in kept
        ]
        return delete_entities(self._tables, BUSY, stale)

    def remove(self, calendar: str, event_id: str) -> bool:
        """Forget one event's interval; ``False`` when there was none (idempotent)."""
        return self._tables.delete(BUSY, calendar, encode_key(event_id))

    def all(self, calendar: str) -> list[BusyInterval]:
        found = (_interval(e) for e in self._tables.query(BUSY, calendar))
        return sorted((i for i in found if i is not None), key=lambda i: (i.start, i.end))

    def between(self, calendar: str, start: datetime, end: datetime) -> list[BusyInterval]:
        """Intervals overlapping ``[start, end)``, ordered by start."""
        return [i for i in self.all(calendar) if i.start < end and i.end > start]

    def sweep(self, calendar: str, keep_round: str) -> int:
        """Delete rows that the full listing ``keep_round`` did not see; returns how many."""
        stale: Iterable[Entity] = [
            e for e in self._tables.query(BUSY, calendar) if e.get_str("round") != keep_round
        ]
        return delete_entities(self._tables, BUSY, stale)

    def clear(self, calendar: str) -> int:
        """Delete every interval of the calendar (disconnect, erasure)."""
        return delete_partition(self._tables, BUSY, calendar)
