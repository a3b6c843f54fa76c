"""The host app's people: id, name and email, as the host app states them.

Table ``people``: PartitionKey = org, RowKey = the host app's person id (both key-encoded). For
workspace integrations the person id is the host app's user id, i.e. the subject of that user's
calendar connection; service integrations (app-only) will match people to mailboxes by email.
This is the host app's own directory data, never anything read from a provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.storage.keys import encode_key
from shared.storage.tables import MAX_BATCH, Entity, Op, TableStore

PEOPLE = "people"
MAX_PEOPLE_PER_PUT = 1000


@dataclass(frozen=True)
class Person:
    org: str
    id: str
    name: str
    email: str
    updated_at: datetime | None = None


def _entity(person: Person, now: datetime) -> Entity:
    return Entity(
        encode_key(person.org),
        encode_key(person.id),
        {
            "org": person.org,
            "person": person.id,
            "name": person.name,
            "email": person.email,
            "updated_at": now,
        },
    )


def _person(entity: Entity) -> Person:
    updated = entity.fields.get("updated_at")
    return Person(
        org=entity.get_str("org"),
        id=entity.get_str("person"),
        name=entity.get_str("name"),
        email=entity.get_str("email"),
        updated_at=updated if isinstance(updated, datetime) else None,
    )


class People:
    """Reads and writes the ``people`` table."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def put_many(self, org: str, people: Sequence[Person], now: datetime) -> int:
        """Upsert ``people`` (all of ``org``) in transactions of 100 (Table storage's limit for
        one entity group transaction); a repeated id keeps its last occurrence. Returns how many
        distinct people were stored."""
        unique = {p.id: p for p in people if p.org == org}
        if len(unique) != len({p.id for p in people}):
            raise ValueError("every person must belong to the organisation being written")
        rows = list(unique.values())
        for start in range(0, len(rows), MAX_BATCH):
            chunk = rows[start : start + MAX_BATCH]
            self._tables.transact(PEOPLE, [Op("upsert", _entity(p, now)) for p in chunk])
        return len(rows)

    def get(self, org: str, person_id: str) -> Person | None:
        entity = self._tables.get(PEOPLE, encode_key(org), encode_key(person_id))
        return None if entity is None else _person(entity)

    def for_org(self, org: str) -> list[Person]:
        return [_person(e) for e in self._tables.query(PEOPLE, encode_key(org))]
