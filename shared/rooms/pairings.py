"""Room pairings: the host app's rooms, each optionally paired with a suite room by email.

Table ``rooms``: PartitionKey = org, RowKey = the host app's room id. A pairing belongs to the
enabled workspace integration; disabling it unpairs every room but keeps the room's information,
its email address included, so pairing again is one call (seed: "meeting rooms are unpaired,
though meeting room information (including email addresses) will be retained").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.storage.keys import encode_key
from shared.storage.tables import MAX_BATCH, Entity, Op, TableStore

ROOMS = "rooms"


@dataclass
class Room:
    org: str
    id: str
    name: str
    email: str
    updated_at: datetime
    integration_id: str | None = None  # set while paired
    paired_at: datetime | None = None

    @property
    def paired(self) -> bool:
        return self.integration_id is not None


def _to_entity(room: Room) -> Entity:
    return Entity(
        encode_key(room.org),
        encode_key(room.id),
        {
            "org": room.org,
            "room_id": room.id,
            "name": room.name,
            "email": room.email,
            "updated_at": room.updated_at,
            "integration_id": room.integration_id,
            "paired_at": room.paired_at,
        },
    )


def _from_entity(entity: Entity) -> Room:
    f = entity.fields
    paired_at = f.get("paired_at")
    updated_at = f["updated_at"]
    if not isinstance(updated_at, datetime):
        raise ValueError(f"room row {entity.row_key} has no updated_at")
    return Room(
        org=entity.get_str("org"),
        id=entity.get_str("room_id"),
        name=entity.get_str("name"),
        email=entity.get_str("email"),
        updated_at=updated_at,
        integration_id=entity.get_str("integration_id") or None,
        paired_at=paired_at if isinstance(paired_at, datetime) else None,
    )


class RoomPairings:
    """Reads and writes the organisation's rooms."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def for_org(self, org: str) -> list[Room]:
        return [_from_entity(e) for e in self._tables.query(ROOMS, encode_key(org))]

    def get(self, org: str, room_id: str) -> Room | None:
        entity = self._tables.get(ROOMS, encode_key(org), encode_key(room_id))
        return None if entity is None else _from_entity(entity)

    def put(self, room: Room) -> Room:
        self._tables.upsert(ROOMS, _to_entity(room))
        return room

    def delete(self, org: str, room_id: str) -> bool:
        return self._tables.delete(ROOMS, encode_key(org), encode_key(room_id))

    def unpair_all(self, org: str, integration_id: str, now: datetime) -> int:
        """Unpair every room paired with ``integration_id``; room information is kept."""
        paired = [r for r in self.for_org(org) if r.integration_id == integration_id]
        for start in range(0, len(paired), MAX_BATCH):
            chunk = paired[start : start + MAX_BATCH]
            ops = []
            for room in chunk:
                room.integration_id = None
                room.paired_at = None
                room.updated_at = now
                ops.append(Op("upsert", _to_entity(room)))
            self._tables.transact(ROOMS, ops)
        return len(paired)
