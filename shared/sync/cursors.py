"""Where each calendar's pull stands: the provider cursor and the round it belongs to.

Table ``cursors``: PartitionKey = calendar key (``CalendarRef.key``), RowKey = ``delta``. Fields:

* ``cursor``: the provider's cursor (Graph nextLink/deltaLink, Google
  ``window|...``/``changes|...``);
  absent when the next pull starts a full listing of the window;
* ``complete``: the cursor is the start of a new round (a deltaLink or sync token), not a page
  in the middle of one;
* ``round``: the id of the latest *full* listing; busy rows carry the round that last saw them,
  so when a full listing completes, rows of older rounds are events that no longer exist in the
  window and are swept (see :mod:`shared.sync.pull`);
* ``full``: the round in progress is a full listing (its end sweeps older busy rows);
* ``window_start``/``window_end``: the window the current delta was started with (Graph encodes
  it in its delta tokens, so a window that drifted needs a new full listing);
* ``last_sync_at``, ``last_success_at``, ``last_error`` for the health view.

Writes are ETag-guarded: the worker's lease keeps one pull per calendar, and if two ever ran,
the slower one fails with ``ConcurrencyConflict`` instead of moving the cursor backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.storage.tables import Entity, TableStore

CURSORS = "cursors"
ROW = "delta"


@dataclass
class CursorState:
    """One calendar's pull position (no calendar content: a provider cursor and times)."""

    calendar: str
    cursor: str | None = None
    complete: bool = False
    round: str = ""
    full: bool = True
    window_start: datetime | None = None
    window_end: datetime | None = None
    last_sync_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    etag: str | None = None


def _time(entity: Entity, name: str) -> datetime | None:
    value = entity.fields.get(name)
    return value if isinstance(value, datetime) else None


def _from_entity(entity: Entity) -> CursorState:
    cursor = entity.fields.get("cursor")
    error = entity.fields.get("last_error")
    return CursorState(
        calendar=entity.partition_key,
        cursor=str(cursor) if cursor else None,
        complete=bool(entity.fields.get("complete", False)),
        round=entity.get_str("round"),
        full=bool(entity.fields.get("full", True)),
        window_start=_time(entity, "window_start"),
        window_end=_time(entity, "window_end"),
        last_sync_at=_time(entity, "last_sync_at"),
        last_success_at=_time(entity, "last_success_at"),
        last_error=str(error) if error else None,
        etag=entity.etag,
    )


def _to_entity(state: CursorState) -> Entity:
    return Entity(
        state.calendar,
        ROW,
        {
            "cursor": state.cursor,
            "complete": state.complete,
            "round": state.round,
            "full": state.full,
            "window_start": state.window_start,
            "window_end": state.window_end,
            "last_sync_at": state.last_sync_at,
            "last_success_at": state.last_success_at,
            "last_error": state.last_error,
        },
        etag=state.etag,
    )


class CursorStore:
    """The ``cursors`` table."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def get(self, calendar: str) -> CursorState | None:
        entity = self._tables.get(CURSORS, calendar, ROW)
        return _from_entity(entity) if entity is not None else None

    def save(self, state: CursorState) -> CursorState:
        """Insert (no ETag yet) or replace if unchanged since read; updates ``state.etag``.

        Raises ``AlreadyExists``/``ConcurrencyConflict`` when another writer got there first.
        """
        entity = _to_entity(state)
        if state.etag is None:
            stored = self._tables.insert(CURSORS, entity)
        else:
            stored = self._tables.update(CURSORS, entity)
        state.etag = stored.etag
        return state

    def drop(self, calendar: str) -> bool:
        """Forget the calendar's position (disconnect, erasure)."""
        return self._tables.delete(CURSORS, calendar, ROW)
