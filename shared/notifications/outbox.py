"""The notification outbox: an ordered feed of what the host app must know, per organisation.

Table ``notifications``: PartitionKey = org, RowKey = the notification's sequence number,
zero-padded, so ``GET /orgs/{org}/notifications?after=<id>`` returns what came later, in order.
The number comes from a per-organisation counter (table ``notificationseq``) incremented with
an ETag check, so notifications appended by different instances at the same instant are still
strictly ordered (a clock cannot promise that). Payloads hold references only (connection
subject, integration id, event references, error codes), never calendar content.

Kinds: ``reconnect_needed``, ``event_moved``, ``event_cancelled``, ``person_declined``,
``room_declined``, ``sync_failing``, ``integration_disabled``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clock import Clock
from shared.errors import AlreadyExists, ConcurrencyConflict
from shared.storage.keys import encode_key
from shared.storage.tables import Entity, TableStore

NOTIFICATIONS = "notifications"
SEQUENCE = "notificationseq"
SENT = "notificationkeys"
_MAX_ROW_KEY_CHARS = 1024


@dataclass(frozen=True)
class Notification:
    id: str
    org: str
    kind: str
    at: datetime
    data: dict[str, Any]


class Outbox:
    def __init__(self, tables: TableStore, clock: Clock) -> None:
        self._tables = tables
        self._clock = clock

    def _next_id(self, org: str) -> str:
        while True:
            counter = self._tables.get(SEQUENCE, encode_key(org), "")
            try:
                if counter is None:
                    self._tables.insert(SEQUENCE, Entity(encode_key(org), "", {"last": 1}))
                    return f"{1:016d}"
                last = counter.fields.get("last")
                number = (last if isinstance(last, int) else 0) + 1
                counter.fields["last"] = number
                self._tables.update(SEQUENCE, counter)
                return f"{number:016d}"
            except (ConcurrencyConflict, AlreadyExists):
                continue  # another instance took this number; take the next one

    def append(
        self, org: str, kind: str, data: dict[str, Any], *, dedupe_key: str | None = None
    ) -> Notification | None:
        """Add a notification; with ``dedupe_key``, only the first append of that key counts.

        Two paths may notice the same fact (the push path and the pull path both see a
        person's deletion; a pull replayed after a crash sees it again): they pass the same key
        and the host app hears it once. Returns ``None`` for a repeat.
        """
        if dedupe_key is not None:
            digest = hashlib.sha256(f"{kind}|{dedupe_key}".encode()).hexdigest()
            try:
                self._tables.insert(
                    SENT, Entity(encode_key(org), digest, {"at": self._clock.now()})
                )
            except AlreadyExists:
                return None
        now = self._clock.now()
        notification_id = self._next_id(org)
        self._tables.insert(
            NOTIFICATIONS,
            Entity(
                encode_key(org),
                notification_id,
                {"org": org, "kind": kind, "at": now, "data": json.dumps(data, sort_keys=True)},
            ),
        )
        return Notification(notification_id, org, kind, now, data)

    def after(self, org: str, after: str | None = None, limit: int = 100) -> list[Notification]:
        """Notifications later than ``after`` (an id from an earlier page), oldest first.

        The lower bound is a ``RowKey`` range the store applies, and reading stops at ``limit``:
        a poll costs what it returns, not the size of the organisation's feed. An ``after``
        whose notification was pruned (see :mod:`shared.notifications.retention`) still works:
        ids are never reused, so whatever follows it is what the caller has not seen.
        """
        found: list[Notification] = []
        if limit <= 0:
            return found
        # ``after`` comes from the caller's query string. Row keys are at most 1 KiB, so at most
        # 1,024 characters: against them the first 1,024 characters of a longer cursor compare
        # exactly as the whole would, and the request stays within Table storage's URL limits.
        bound = None if after is None else after[:_MAX_ROW_KEY_CHARS]
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
