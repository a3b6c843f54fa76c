"""Pending cycle messages: the 5-minute cycle enqueues a calendar only when none is pending.

The cycle packs many calendars into one sync message (``SYNC_CALENDARS_PER_MESSAGE``). Before it
sends a message it records the message's calendars in table ``syncbatches`` (PartitionKey = org,
RowKey = batch id, ``calendars`` = the keys as a JSON list, ``enqueued_at``); the worker deletes
the row when the message's work is done, including any continuation of it (a continuation carries
the same batch id and the calendars still to do). The next cycle reads the whole table in one
paged query and skips every calendar a row lists, so a backlog cannot grow by one message per
calendar every five minutes (docs/sync-design.md, "Bounded work").

Order and failure: the row is written before the message is sent, so a worker can never finish a
message whose row is not there yet (which would leave a row nobody deletes). A send that fails
deletes its row again. A row whose message was lost anyway (the process died between the two
writes, the message went to the poison queue) is taken as pending for :data:`STALE_AFTER` only;
then the cycle deletes it and enqueues its calendars again. So a calendar waits at most that long
behind a lost message, and at most one cycle message per calendar is pending otherwise.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.storage.tables import Entity, FieldValue, TableStore

log = logging.getLogger(__name__)

SYNC_BATCHES = "syncbatches"
# Longer than a healthy backlog lasts (a worker run is bounded by its budget, 4 minutes by
# default, and retries by their limits), short enough that a lost message delays a calendar
# by an hour at most.
STALE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class PendingBatch:
    org: str
    id: str
    calendars: tuple[str, ...]
    enqueued_at: datetime


def new_batch_id(now: datetime) -> str:
    """Sortable by time (for people reading the table), unique by the random part."""
    return f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"


def _from_entity(entity: Entity) -> PendingBatch | None:
    enqueued_at = entity.fields.get("enqueued_at")
    try:
        calendars = json.loads(entity.get_str("calendars", "[]"))
    except ValueError:
        calendars = None
    if not isinstance(enqueued_at, datetime) or not isinstance(calendars, list):
        return None
    keys = tuple(k for k in calendars if isinstance(k, str))
    return PendingBatch(entity.partition_key, entity.row_key, keys, enqueued_at)


def pending(tables: TableStore, now: datetime) -> tuple[set[str], list[PendingBatch]]:
    """(calendar keys a live batch holds, stale batches) in one paged query of the table."""
    held: set[str] = set()
    stale: list[PendingBatch] = []
    for entity in list(tables.query(SYNC_BATCHES)):
        batch = _from_entity(entity)
        if batch is None:  # unreadable: nothing can be held by it
            tables.delete(SYNC_BATCHES, entity.partition_key, entity.row_key)
            continue
        if now - batch.enqueued_at >= STALE_AFTER:
            stale.append(batch)
        else:
            held.update(batch.calendars)
    return held, stale


def record(
    tables: TableStore, org: str, batch_id: str, calendars: list[str], now: datetime
) -> None:
    """Write the row of a message about to be sent."""
    fields: dict[str, FieldValue] = {
        "calendars": json.dumps(calendars, separators=(",", ":")),
        "enqueued_at": now,
    }
    tables.upsert(SYNC_BATCHES, Entity(org, batch_id, fields))


def done(tables: TableStore, org: str, batch_id: str) -> None:
    """The message's work is done (or it was never sent): the calendars may be enqueued again."""
    tables.delete(SYNC_BATCHES, org, batch_id)


def forget_stale(tables: TableStore, stale: list[PendingBatch]) -> None:
    for batch in stale:
        log.warning(
            "sync batch %s of %s pending since %s: taken as lost, its %d calendars enqueued again",
            batch.id,
            batch.org,
            batch.enqueued_at.isoformat(),
            len(batch.calendars),
        )
        done(tables, batch.org, batch.id)
