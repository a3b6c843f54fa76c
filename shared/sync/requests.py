"""Pending-sync markers: one per calendar, so duplicate notifications cause one sync.

Table ``syncrequests``: PartitionKey = calendar key, RowKey = ``pending``. A webhook inserts the
marker and enqueues a sync message only when its insert succeeded; a duplicate notification
meets the existing marker and enqueues nothing (Graph documents duplicate notifications, and
sends ``created`` followed by ``updated`` for a new event). The worker deletes the marker
*before* it syncs: a notification that arrives during the run inserts a new marker and
enqueues one more run, so no change is left behind.

A marker whose message was lost (the enqueue failed after the insert) would block further
notifications; markers older than :data:`STALE_AFTER` are therefore taken over (ETag-guarded),
and the 5-minute cycle syncs every calendar regardless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.clock import Clock
from shared.errors import AlreadyExists, ConcurrencyConflict, NotFound
from shared.storage.tables import Entity, FieldValue, TableStore

SYNC_REQUESTS = "syncrequests"
PENDING = "pending"
STALE_AFTER = timedelta(minutes=15)


def request_sync(tables: TableStore, clock: Clock, calendar_key: str, reason: str) -> bool:
    """Mark ``calendar_key`` as needing a sync. ``True`` when this call created the marker
    (the caller then enqueues exactly one sync message); ``False`` when one is pending."""
    now = clock.now()
    fields: dict[str, FieldValue] = {"requested_at": now, "reason": reason}
    try:
        tables.insert(SYNC_REQUESTS, Entity(calendar_key, PENDING, fields))
        return True
    except AlreadyExists:
        pass
    current = tables.get(SYNC_REQUESTS, calendar_key, PENDING)
    if current is None:
        # Cleared between our insert and our read: a worker is starting; it may have read the
        # calendar before this change, so ask for one more run.
        try:
            tables.insert(SYNC_REQUESTS, Entity(calendar_key, PENDING, fields))
            return True
        except AlreadyExists:
            return False
    requested_at = current.fields.get("requested_at")
    if isinstance(requested_at, datetime) and now - requested_at < STALE_AFTER:
        return False
    try:
        tables.update(SYNC_REQUESTS, Entity(calendar_key, PENDING, fields, etag=current.etag))
        return True
    except (ConcurrencyConflict, NotFound):
        return False


def clear(tables: TableStore, calendar_key: str) -> None:
    """Delete the marker (the worker, right before syncing)."""
    tables.delete(SYNC_REQUESTS, calendar_key, PENDING)


def pending(tables: TableStore, calendar_key: str) -> datetime | None:
    """When a pending sync was requested, or ``None``."""
    current = tables.get(SYNC_REQUESTS, calendar_key, PENDING)
    if current is None:
        return None
    value = current.fields.get("requested_at")
    return value if isinstance(value, datetime) else None
