"""The host app's own data attached to a calendar event, by reference.

Table ``appdata``: PartitionKey = ``join_key(org, person)``, RowKey = the encoded provider event
id, field ``data`` (the host app's JSON object) and ``updated_at``. This is the host app's data
about an event (seed 001: "only event IDs are stored", plus what the app attaches to them), never
content read from the calendar.

The size is limited (:data:`MAX_BYTES`): Table storage allows 64 KiB per string property and
1 MiB per entity, and attached data is meant to be a handful of references and flags.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared.errors import BadRequest
from shared.storage.keys import encode_key, join_key
from shared.storage.tables import Entity, TableStore

log = logging.getLogger(__name__)

APPDATA = "appdata"
MAX_BYTES = 16 * 1024


def _partition(org: str, person: str) -> str:
    return join_key(org, person)


def encode_data(data: dict[str, Any]) -> str:
    """The stored form; ``BadRequest`` (``app_data_too_large``) above :data:`MAX_BYTES`."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    size = len(text.encode())
    if size > MAX_BYTES:
        raise BadRequest(
            f"app data is {size} bytes; at most {MAX_BYTES} are kept per event",
            code="app_data_too_large",
            limit=MAX_BYTES,
        )
    return text


class AppDataStore:
    """The ``appdata`` table."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def put(
        self, org: str, person: str, event_id: str, data: dict[str, Any], now: datetime
    ) -> None:
        """Attach (or replace) the host app's data for one event of ``person``'s calendar."""
        self._tables.upsert(
            APPDATA,
            Entity(
                _partition(org, person),
                encode_key(event_id),
                {"data": encode_data(data), "updated_at": now},
            ),
        )

    def get(self, org: str, person: str, event_id: str) -> dict[str, Any] | None:
        entity = self._tables.get(APPDATA, _partition(org, person), encode_key(event_id))
        return _decode(entity) if entity is not None else None

    def for_events(self, org: str, person: str, event_ids: Iterable[str]) -> dict[str, Any]:
        """The data attached to any of ``event_ids``, by event id.

        One point read per event: an agenda page holds at most a few dozen events, and point
        reads stay cheap however much data the person has attached over time.
        """
        found: dict[str, Any] = {}
        for event_id in dict.fromkeys(event_ids):
            data = self.get(org, person, event_id)
            if data is not None:
                found[event_id] = data
        return found

    def remove(self, org: str, person: str, event_id: str) -> bool:
        return self._tables.delete(APPDATA, _partition(org, person), encode_key(event_id))


def _decode(entity: Entity) -> dict[str, Any] | None:
    """The attached object, or ``None`` for a row that does not hold one (logged, skipped)."""
    try:
        value = json.loads(entity.get_str("data") or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        log.warning("skipping unusable appdata row %s/%s", entity.partition_key, entity.row_key)
        return None
    return value
