"""Integration records and their history in Table storage.

Tables:

* ``integrations``: PartitionKey = org, RowKey = integration id. One row per integration.
* ``integrationhistory``: PartitionKey = ``org|id``, RowKey = ISO time, a monotonic counter and
  a random suffix, so entries sort by time and never collide.

Writes use ETags: two admins toggling at once cannot both win.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

from shared.errors import NotFound
from shared.integrations.model import HistoryEntry, Integration, Kind, Provider, Status
from shared.storage.bulk import delete_partition
from shared.storage.keys import encode_key, join_key
from shared.storage.tables import Entity, TableStore

INTEGRATIONS = "integrations"
HISTORY = "integrationhistory"

_OPTIONAL_FIELDS = (
    "tenant",
    "test_passed_at",
    "enabled_at",
    "enabled_by",
    "disabled_at",
    "disabled_by",
    "purge_at",
)


def _to_entity(integration: Integration) -> Entity:
    fields: dict[str, Any] = {
        "org": integration.org,
        "kind": integration.kind.value,
        "provider": integration.provider.value,
        "name": integration.name,
        "status": integration.status.value,
        "created_at": integration.created_at,
        "created_by": integration.created_by,
        "updated_at": integration.updated_at,
    }
    for name in _OPTIONAL_FIELDS:
        fields[name] = getattr(integration, name)
    return Entity(encode_key(integration.org), integration.id, fields, integration.etag)


def _from_entity(entity: Entity) -> Integration:
    f = entity.fields

    def when(name: str) -> datetime | None:
        value = f.get(name)
        return value if isinstance(value, datetime) else None

    created_at = when("created_at")
    updated_at = when("updated_at")
    if created_at is None or updated_at is None:
        raise ValueError(f"integration row {entity.row_key} has no created_at/updated_at")
    return Integration(
        org=str(f["org"]),
        id=entity.row_key,
        kind=Kind(str(f["kind"])),
        provider=Provider(str(f["provider"])),
        name=str(f["name"]),
        status=Status(str(f["status"])),
        created_at=created_at,
        created_by=str(f["created_by"]),
        updated_at=updated_at,
        tenant=entity.get_str("tenant") or None,
        test_passed_at=when("test_passed_at"),
        enabled_at=when("enabled_at"),
        enabled_by=entity.get_str("enabled_by") or None,
        disabled_at=when("disabled_at"),
        disabled_by=entity.get_str("disabled_by") or None,
        purge_at=when("purge_at"),
        etag=entity.etag,
    )


class IntegrationRepository:
    """Loads and saves integrations; every save is ETag-checked."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def get(self, org: str, integration_id: str) -> Integration:
        entity = self._tables.get(INTEGRATIONS, encode_key(org), integration_id)
        if entity is None:
            raise NotFound(f"no integration {integration_id!r} in this organisation")
        return _from_entity(entity)

    def for_org(self, org: str) -> list[Integration]:
        return [_from_entity(e) for e in self._tables.query(INTEGRATIONS, encode_key(org))]

    def list_all(self) -> list[Integration]:
        """Every integration of every organisation (the purge timer's scan)."""
        return [_from_entity(e) for e in self._tables.query(INTEGRATIONS)]

    def insert(self, integration: Integration) -> Integration:
        stored = self._tables.insert(INTEGRATIONS, _to_entity(integration))
        integration.etag = stored.etag
        return integration

    def save(self, integration: Integration) -> Integration:
        """Write changes; raises ``ConcurrencyConflict`` if someone else wrote since loading."""
        stored = self._tables.update(INTEGRATIONS, _to_entity(integration))
        integration.etag = stored.etag
        return integration

    def delete(self, integration: Integration) -> None:
        self._tables.delete(INTEGRATIONS, encode_key(integration.org), integration.id)
        delete_partition(self._tables, HISTORY, join_key(integration.org, integration.id))

    def record(self, integration: Integration, entry: HistoryEntry) -> None:
        # Entries of one instant (a manual clock, a fast admin) keep their order by the
        # monotonic counter; the random suffix keeps rows of different processes apart.
        row = f"{entry.at.isoformat()}-{time.monotonic_ns():020d}-{secrets.token_hex(3)}"
        self._tables.insert(
            HISTORY,
            Entity(
                join_key(integration.org, integration.id),
                row,
                {
                    "at": entry.at,
                    "actor": entry.actor,
                    "action": entry.action,
                    "detail": entry.detail,
                },
            ),
        )

    def history(self, integration: Integration) -> list[HistoryEntry]:
        rows = self._tables.query(HISTORY, join_key(integration.org, integration.id))
        return [
            HistoryEntry(
                at=e.fields["at"],  # type: ignore[arg-type]
                actor=e.get_str("actor"),
                action=e.get_str("action"),
                detail=e.get_str("detail"),
            )
            for e in rows
        ]
