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


# --- runs that met another worker's lease ------------------------------------------------------
#
# A run that finds the calendar's lease held does not poll with growing delays: it leaves a
# request with reason ``busy`` (and the subscription action it carried, if any), and the holder,
# after releasing the lease, sends one message for it (:func:`waiting`). So the waiting work
# runs right after the holder finishes. The waiter tries the lease once more after writing the
# request: if the holder released in between, the waiter holds the lease now and runs itself;
# otherwise the holder's release comes after the write and its check sees the request.

BUSY = "busy"
_ACTIONS = ("", "renew", "recreate")  # weakest first: a waiting "recreate" is never downgraded


def wait_for_lease(
    tables: TableStore, clock: Clock, calendar_key: str, action: str | None = None
) -> bool:
    """Record that a run met the lease of ``calendar_key`` (keeping the strongest subscription
    action asked for). ``True`` when no run was waiting yet, ``False`` otherwise."""
    wanted = action or ""
    for _ in range(5):
        current = tables.get(SYNC_REQUESTS, calendar_key, PENDING)
        first = current is None or current.get_str("reason") != BUSY
        kept = "" if current is None or first else current.get_str("action")
        strongest = max(wanted, kept, key=lambda a: _ACTIONS.index(a) if a in _ACTIONS else 0)
        fields: dict[str, FieldValue] = {
            "requested_at": clock.now(),
            "reason": BUSY,
            "action": strongest or None,
        }
        try:
            if current is None:
                tables.insert(SYNC_REQUESTS, Entity(calendar_key, PENDING, fields))
            else:
                tables.update(
                    SYNC_REQUESTS, Entity(calendar_key, PENDING, fields, etag=current.etag)
                )
        except (AlreadyExists, ConcurrencyConflict, NotFound):
            continue  # a webhook, the holder or another waiter wrote meanwhile: read again
        return first
    raise ConcurrencyConflict(f"sync request of {calendar_key} keeps changing")


def waiting(tables: TableStore, calendar_key: str) -> tuple[bool, str | None]:
    """``(True, action)`` when a run met the lease and waits for its holder (the holder sends
    one message for it after releasing); ``(False, None)`` otherwise. The request itself stays
    until that run starts and clears it, so notifications meanwhile enqueue nothing more."""
    current = tables.get(SYNC_REQUESTS, calendar_key, PENDING)
    if current is None or current.get_str("reason") != BUSY:
        return False, None
    return True, current.get_str("action") or None
