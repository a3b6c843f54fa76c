"""An in-memory :class:`~shared.storage.tables.TableStore` for unit tests.

Same semantics as the Azure adapter (it passes ``tests/contract/test_table_store_contract.py``):
the same validation (:mod:`shared.storage.entity_rules`), ETags that change on every write,
all-or-nothing transactions, ordering by partition key then row key. Thread-safe: one lock
guards every table, so concurrent writers see the same conflicts they would see in Azure.

``store.faults`` (a :class:`~shared.storage.faults.StoreFaults`) fails calls on command, before
or after they take effect, as Azure can; unarmed it changes nothing.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from shared.errors import AlreadyExists, BadRequest, ConcurrencyConflict, NotFound
from shared.storage import entity_rules
from shared.storage.faults import StoreFaults, lost_answer
from shared.storage.tables import Entity, FieldValue, Op

_Key = tuple[str, str]


@dataclass
class _Row:
    fields: dict[str, FieldValue]
    etag: str


def _new_etag() -> str:
    # Opaque, like Azure's W/"datetime'...'" ETags: callers only compare them.
    return f'W/"{uuid.uuid4().hex}"'


def _copy(key: _Key, row: _Row) -> Entity:
    return Entity(key[0], key[1], dict(row.fields), row.etag)


class MemoryTableStore:
    """Tables in a dict. ``MemoryTableStore()`` needs no arguments."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, dict[_Key, _Row]] = {}
        self.faults = StoreFaults()

    def _table(self, name: str) -> dict[_Key, _Row]:
        entity_rules.check_table_name(name)
        return self._tables.setdefault(name, {})

    def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        entity_rules.check_key("partition key", partition_key)
        entity_rules.check_key("row key", row_key)
        self.faults.entering("get", table)
        with self._lock:
            key = (partition_key, row_key)
            row = self._table(table).get(key)
            return None if row is None else _copy(key, row)

    def insert(self, table: str, entity: Entity) -> Entity:
        return self._write("insert", table, [Op("insert", entity)])[0]

    def upsert(self, table: str, entity: Entity) -> Entity:
        return self._write("upsert", table, [Op("upsert", entity)])[0]

    def update(self, table: str, entity: Entity) -> Entity:
        if entity.etag is None:
            raise BadRequest("update needs the entity's etag", code="etag_required")
        return self._write("update", table, [Op("update", entity)])[0]

    def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> bool:
        entity_rules.check_key("partition key", partition_key)
        entity_rules.check_key("row key", row_key)
        lose_answer = self.faults.entering("delete", table)
        with self._lock:
            rows = self._table(table)
            row = rows.get((partition_key, row_key))
            if row is None:
                deleted = False
            elif etag is not None and etag != row.etag:
                raise ConcurrencyConflict(f"{table}/{partition_key}/{row_key} changed")
            else:
                del rows[(partition_key, row_key)]
                deleted = True
        if lose_answer:
            raise lost_answer("delete", table)
        return deleted

    def query(
        self,
        table: str,
        partition_key: str | None = None,
        *,
        row_key_prefix: str | None = None,
        row_key_after: str | None = None,
        where: dict[str, FieldValue] | None = None,
    ) -> Iterator[Entity]:
        wanted = entity_rules.check_where(where or {})
        self.faults.entering("query", table)
        with self._lock:
            # Snapshot under the lock; the caller iterates at leisure, as with a paged query.
            found = [
                _copy(key, row)
                for key, row in sorted(self._table(table).items())
                if (partition_key is None or key[0] == partition_key)
                and (row_key_prefix is None or key[1].startswith(row_key_prefix))
                and (row_key_after is None or key[1] > row_key_after)
                and entity_rules.matches(row.fields, wanted)
            ]
        return iter(found)

    def transact(self, table: str, ops: Sequence[Op]) -> list[Entity]:
        return self._write("transact", table, ops)

    def _write(self, operation: str, table: str, ops: Sequence[Op]) -> list[Entity]:
        entity_rules.check_batch(ops)
        lose_answer = self.faults.entering(operation, table)
        written = self._apply_all(table, ops)
        if lose_answer:
            raise lost_answer(operation, table)
        return written

    def _apply_all(self, table: str, ops: Sequence[Op]) -> list[Entity]:
        with self._lock:
            rows = self._table(table)
            staged = dict(rows)
            written: list[Entity] = []
            for op in ops:
                written.append(self._apply(table, staged, op))
            # Every operation passed: publish them together (all or nothing).
            rows.clear()
            rows.update(staged)
            return written

    @staticmethod
    def _apply(table: str, rows: dict[_Key, _Row], op: Op) -> Entity:
        entity = op.entity
        key = (entity.partition_key, entity.row_key)
        where = f"{table}/{key[0]}/{key[1]}"
        current = rows.get(key)
        if op.kind == "delete":
            if current is None:
                raise NotFound(f"{where} does not exist")
            if entity.etag is not None and entity.etag != current.etag:
                raise ConcurrencyConflict(f"{where} changed")
            del rows[key]
            return Entity(key[0], key[1], dict(entity.fields), None)
        if op.kind == "insert" and current is not None:
            raise AlreadyExists(f"{where} already exists")
        if op.kind == "update":
            if current is None:
                raise NotFound(f"{where} does not exist")
            if entity.etag is not None and entity.etag != current.etag:
                raise ConcurrencyConflict(f"{where} changed")
        row = _Row(entity_rules.check_entity(entity), _new_etag())
        rows[key] = row
        return _copy(key, row)

    def ping(self) -> None:
        """Answers unless a fault is armed for ``ping``: memory is always there."""
        self.faults.entering("ping", "")
