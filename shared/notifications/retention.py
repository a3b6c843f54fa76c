"""Notification retention: the feed keeps ``NOTIFICATION_RETENTION_DAYS`` (default 30) of history.

The hourly maintenance timer calls :meth:`NotificationRetention.run`. It deletes

* notifications (table ``notifications``, id rows) whose ``at`` is older than the retention,
* de-duplication keys (the ``!key:`` rows of the same partitions, and those left in the former
  table ``notificationkeys``) whose ``at`` is older than the retention,

in entity group transactions of at most ``MAX_BATCH`` deletes per partition. The per-organisation
counter (row ``!seq``) is never touched, so ids are never reused: a host app, or the
webhook deliverer, resuming with an ``after`` whose notification was pruned reads on from the
next one that is left (``Outbox.after`` is a strictly-greater ``RowKey`` range, not a lookup).

A notification not yet delivered to a webhook that kept failing is pruned all the same: within
the retention the feed (``GET /orgs/{org}/notifications``) is the source of truth and the
webhook is a convenience on top of it (docs/decisions.md, "Notification retention").

Reading cost. Notification ids follow time (``at`` is taken right before the transaction that
commits the id), so each organisation's feed is read from its oldest row and the walk stops at
the first row that is still young: a run reads what it deletes plus one page. Two appends
racing on different instances can leave an id with an ``at`` a few milliseconds older than its
predecessor's; such a row is deleted by the next run that reaches it. De-duplication keys are
hashes, in no time order, so each organisation's keys are read whole; they are only the
retention's worth.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.clock import Clock
from shared.notifications.outbox import FEED_FLOOR, KEY_PREFIX, NOTIFICATIONS, SENT, SEQUENCE
from shared.storage.bulk import delete_entities
from shared.storage.tables import MAX_BATCH, Entity, TableStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotificationPurgeReport:
    """What one run deleted, and the cut-off it used (rows with ``at`` before it went)."""

    cutoff: datetime
    notifications_deleted: int
    dedupe_keys_deleted: int


def _expired(entity: Entity, cutoff: datetime) -> bool | None:
    """``True`` when older than ``cutoff``, ``False`` when not, ``None`` without a time."""
    at = entity.fields.get("at")
    if not isinstance(at, datetime):
        return None
    return at < cutoff


class NotificationRetention:
    """Deletes notifications and de-duplication keys older than ``days``.

    Args:
        tables: the table store holding the outbox's tables.
        clock: the time source (a ``ManualClock`` in tests and in the local host).
        days: the retention, ``NOTIFICATION_RETENTION_DAYS``; at least 1.
    """

    def __init__(self, tables: TableStore, clock: Clock, days: int) -> None:
        if days < 1:
            raise ValueError("notification retention must be at least one day")
        self._tables = tables
        self._clock = clock
        self._retention = timedelta(days=days)

    def run(self, now: datetime | None = None) -> NotificationPurgeReport:
        """Delete what is older than the retention at ``now`` (default: the clock's time).

        Idempotent and resumable: a run cut short leaves only older rows, which the next run
        deletes. Raises ``StorageUnavailable`` when the table store does not answer.
        """
        cutoff = (now or self._clock.now()) - self._retention
        # Every organisation that ever had a notification has a row in ``notificationseq``: one
        # row per organisation, so this is a small read.
        partitions = [counter.partition_key for counter in self._tables.query(SEQUENCE)]
        notifications = sum(self._purge_feed(partition, cutoff) for partition in partitions)
        keys = sum(self._purge_partition_keys(partition, cutoff) for partition in partitions)
        keys += self._purge_keys(cutoff)
        if notifications or keys:
            log.info(
                "notification retention: %d notifications and %d de-duplication keys older "
                "than %s deleted",
                notifications,
                keys,
                cutoff.isoformat(),
            )
        return NotificationPurgeReport(cutoff, notifications, keys)

    def _purge_feed(self, partition: str, cutoff: datetime) -> int:
        """Delete one organisation's expired notifications, oldest first; returns how many."""
        deleted = 0
        batch: list[Entity] = []
        for entity in self._tables.query(NOTIFICATIONS, partition, row_key_after=FEED_FLOOR):
            expired = _expired(entity, cutoff)
            if expired is False:
                break  # ids follow time: the rest of the partition is younger
            if expired is None:
                continue  # no time to judge by: not ours to delete
            batch.append(entity)
            if len(batch) == MAX_BATCH:
                deleted += self._delete(NOTIFICATIONS, batch)
                batch = []
        if batch:
            deleted += self._delete(NOTIFICATIONS, batch)
        return deleted

    def _purge_partition_keys(self, partition: str, cutoff: datetime) -> int:
        """Delete one organisation's expired ``!key:`` rows; returns how many."""
        deleted = 0
        batch: list[Entity] = []
        for entity in self._tables.query(NOTIFICATIONS, partition, row_key_prefix=KEY_PREFIX):
            if _expired(entity, cutoff):
                batch.append(entity)
            if len(batch) == MAX_BATCH:
                deleted += self._delete(NOTIFICATIONS, batch)
                batch = []
        if batch:
            deleted += self._delete(NOTIFICATIONS, batch)
        return deleted

    def _purge_keys(self, cutoff: datetime) -> int:
        """Delete expired keys left in the former key table; returns how many."""
        deleted = 0
        batch: list[Entity] = []
        # A whole-table query comes ordered by partition, so one partition's batch is complete
        # when the partition changes; batches stay within one partition, as transactions must.
        for entity in self._tables.query(SENT):
            if batch and (
                entity.partition_key != batch[0].partition_key or len(batch) == MAX_BATCH
            ):
                deleted += self._delete(SENT, batch)
                batch = []
            if _expired(entity, cutoff):
                batch.append(entity)
        if batch:
            deleted += self._delete(SENT, batch)
        return deleted

    def _delete(self, table: str, entities: Iterable[Entity]) -> int:
        # One transaction per call (the callers pass at most MAX_BATCH rows of one partition);
        # a row deleted meanwhile by an overlapping run only makes it fall back to single deletes.
        return delete_entities(self._tables, table, entities)
