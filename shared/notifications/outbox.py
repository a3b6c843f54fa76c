"""The notification outbox: an ordered feed of what the host app must know, per organisation.

Table ``notifications``, PartitionKey = org. Three kinds of rows share each organisation's
partition, so that one entity group transaction can write them together (Azure Table storage
transactions are limited to one table and one partition, "Performing entity group
transactions", https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions):

* RowKey = the notification's sequence number, zero-padded to 16 digits: the feed;
  ``GET /orgs/{org}/notifications?after=<id>`` returns what came later, in order.
* RowKey ``!seq``: the organisation's counter (``last``, the highest id written).
* RowKey ``!key:<sha256>``: one per de-duplication key, recording the id it was given.

**One append is one transaction**: the key row is inserted, the counter row updated with its
ETag (inserted the first time) and the notification row inserted, all or nothing. So

* a crash or storage error at any point leaves either everything or nothing: a retry of the
  same fact either finds its key (already reported, exactly once) or writes it whole. Nothing
  can hold a key without its notification (the loss this layout replaces);
* id ``n`` can only be committed by the transaction that moves the counter from ``n - 1`` to
  ``n`` with the ETag of the counter row that committed ``n - 1``: ids become visible strictly
  in order, with no gaps. A reader that has seen ``n`` has every id below it that is still
  kept, and ``?after=n`` cannot pass an id that commits later. Two instances appending at once
  conflict on the counter's ETag; the loser re-reads and takes the next number.

The special rows sort before every id (``!`` < ``0``), so readers start after ``FEED_FLOOR``
and never see them. Payloads hold references only (connection subject, integration id, event
references, error codes), never calendar content.

Before this layout, the counter lived in table ``notificationseq`` and keys in
``notificationkeys``. The counter row there is kept as the list of organisations that have a
feed (retention walks it) and, the first time an organisation appends under this layout, its
``last`` seeds the new counter, so ids are never reused. Keys written there are still honoured
(a read) until the retention has removed them all.

Kinds: ``reconnect_needed``, ``event_moved``, ``event_cancelled``, ``person_declined``,
``room_declined``, ``room_accepted``, ``sync_failing``, ``integration_disabled``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clock import Clock
from shared.errors import AlreadyExists, ConcurrencyConflict, NotFound
from shared.storage.keys import encode_key
from shared.storage.tables import Entity, FieldValue, Op, TableStore

NOTIFICATIONS = "notifications"
SEQUENCE = "notificationseq"  # one row per organisation with a feed (and the former counter)
SENT = "notificationkeys"  # de-duplication keys written before the one-transaction layout
COUNTER_ROW = "!seq"
KEY_PREFIX = "!key:"
# A RowKey bound below every id ("/" sorts just before "0") and above every special row.
FEED_FLOOR = "/"
ID_DIGITS = 16
_MAX_ROW_KEY_CHARS = 1024
# Appends of one organisation racing on the counter: each conflict means another append
# committed, so this many in a row means a storm, not bad luck; the caller's retry takes over.
MAX_APPEND_ATTEMPTS = 50


@dataclass(frozen=True)
class Notification:
    id: str
    org: str
    kind: str
    at: datetime
    data: dict[str, Any]


def format_id(number: int) -> str:
    """The RowKey (and public id) of notification ``number``."""
    return f"{number:0{ID_DIGITS}d}"


def dedupe_row(kind: str, dedupe_key: str) -> str:
    """The RowKey of a de-duplication key (a hash: the key may hold ids of any length)."""
    return KEY_PREFIX + hashlib.sha256(f"{kind}|{dedupe_key}".encode()).hexdigest()


def _legacy_digest(kind: str, dedupe_key: str) -> str:
    return hashlib.sha256(f"{kind}|{dedupe_key}".encode()).hexdigest()


class Outbox:
    def __init__(self, tables: TableStore, clock: Clock) -> None:
        self._tables = tables
        self._clock = clock

    def append(
        self, org: str, kind: str, data: dict[str, Any], *, dedupe_key: str | None = None
    ) -> Notification | None:
        """Add a notification; with ``dedupe_key``, only the first append of that key counts.

        Two paths may notice the same fact (the push path and the pull path both see a
        person's deletion; a pull replayed after a crash sees it again): they pass the same key
        and the host app hears it once. Returns ``None`` for a repeat.

        Crash-safe: the notification, its key and the counter are one transaction, so a call
        that raised (``StorageUnavailable``, a crash, a lost answer) is retried by calling
        again with the same key; the fact ends up in the feed exactly once. Without a key, a
        retry after a lost answer may add the fact twice: every fact the service reports passes
        one.
        """
        partition = encode_key(org)
        key_row = None if dedupe_key is None else dedupe_row(kind, dedupe_key)
        if dedupe_key is not None and self._seen_before_layout(partition, kind, dedupe_key):
            return None
        for _ in range(MAX_APPEND_ATTEMPTS):
            counter = self._tables.get(NOTIFICATIONS, partition, COUNTER_ROW)
            if counter is None:
                number = self._first_number(partition)
            else:
                last = counter.fields.get("last")
                number = (last if isinstance(last, int) else 0) + 1
            notification_id = format_id(number)
            now = self._clock.now()
            ops: list[Op] = []
            if key_row is not None:
                ops.append(
                    Op("insert", Entity(partition, key_row, {"at": now, "id": notification_id}))
                )
            counter_fields: dict[str, FieldValue] = {"last": number}
            if counter is None:
                ops.append(Op("insert", Entity(partition, COUNTER_ROW, counter_fields)))
            else:
                ops.append(
                    Op("update", Entity(partition, COUNTER_ROW, counter_fields, counter.etag))
                )
            ops.append(
                Op(
                    "insert",
                    Entity(
                        partition,
                        notification_id,
                        {
                            "org": org,
                            "kind": kind,
                            "at": now,
                            "data": json.dumps(data, sort_keys=True),
                        },
                    ),
                )
            )
            try:
                self._tables.transact(NOTIFICATIONS, ops)
            except (AlreadyExists, ConcurrencyConflict, NotFound):
                # Either the key is taken (reported already, by us before a lost answer or by
                # another path) or another append took this number: look again.
                if key_row is not None and self._tables.get(NOTIFICATIONS, partition, key_row):
                    return None
                continue
            return Notification(notification_id, org, kind, now, data)
        raise ConcurrencyConflict(f"appending to {org}'s notification feed kept conflicting")

    def _first_number(self, partition: str) -> int:
        """The first id under the one-transaction layout: after the former counter's last.

        Also registers the organisation in ``notificationseq`` (retention walks that table);
        the registration is idempotent and harmless if the append that follows fails.
        """
        legacy = self._tables.get(SEQUENCE, partition, "")
        if legacy is None:
            try:
                self._tables.insert(SEQUENCE, Entity(partition, "", {}))
            except AlreadyExists:
                legacy = self._tables.get(SEQUENCE, partition, "")
        last = None if legacy is None else legacy.fields.get("last")
        return (last if isinstance(last, int) else 0) + 1

    def _seen_before_layout(self, partition: str, kind: str, dedupe_key: str) -> bool:
        """Whether the key was recorded in the former key table (kept for the retention)."""
        return self._tables.get(SENT, partition, _legacy_digest(kind, dedupe_key)) is not None

    def after(self, org: str, after: str | None = None, limit: int = 100) -> list[Notification]:
        """Notifications later than ``after`` (an id from an earlier page), oldest first.

        The lower bound is a ``RowKey`` range the store applies, and reading stops at ``limit``:
        a poll costs what it returns, not the size of the organisation's feed. An ``after``
        whose notification was pruned (see :mod:`shared.notifications.retention`) still works:
        ids are never reused, so whatever follows it is what the caller has not seen. Ids are
        committed in order (see the module docstring), so no id can appear later below one
        already returned.
        """
        found: list[Notification] = []
        if limit <= 0:
            return found
        # ``after`` comes from the caller's query string. Row keys are at most 1 KiB, so at most
        # 1,024 characters: against them the first 1,024 characters of a longer cursor compare
        # exactly as the whole would, and the request stays within Table storage's URL limits.
        bound = FEED_FLOOR if after is None else max(after[:_MAX_ROW_KEY_CHARS], FEED_FLOOR)
        for entity in self._tables.query(NOTIFICATIONS, encode_key(org), row_key_after=bound):
            found.append(_from_entity(entity))
            if len(found) >= limit:
                break  # the store pages lazily: nothing after this page is fetched
        return found


def _from_entity(entity: Entity) -> Notification:
    at = entity.fields.get("at")
    if not isinstance(at, datetime):
        raise ValueError(f"notification {entity.row_key} has no time")
    return Notification(
        entity.row_key,
        entity.get_str("org"),
        entity.get_str("kind"),
        at,
        json.loads(entity.get_str("data") or "{}"),
    )
