"""The table-store interface: entities in partitions, with ETags.

Implementations: :class:`shared.storage.azure_tables.AzureTableStore` (Azure Table storage, and
Azurite locally) and :class:`shared.storage.memory_tables.MemoryTableStore` (unit tests). Both pass
``tests/contract/test_table_store_contract.py``.

Invariants every implementation keeps:

* An entity is addressed by ``(table, partition_key, row_key)``; tables are created on first use.
* Every stored entity has an opaque ``etag`` that changes on each write.
* ``update``/``delete`` with an ``etag`` succeed only if the stored ETag still matches, else they
  raise :class:`shared.errors.ConcurrencyConflict` (optimistic concurrency).
* ``insert`` raises :class:`shared.errors.AlreadyExists` when the key is taken.
* ``transact`` applies up to 100 operations on one partition atomically: all or none.
* Field values are ``str``, ``int``, ``float``, ``bool``, ``datetime`` (timezone-aware, UTC) or
  ``None`` (a ``None`` field is not stored). Nothing else: tokens and calendar content never
  belong in a table row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

FieldValue = str | int | float | bool | datetime | None

MAX_BATCH = 100  # Azure Table storage's limit for one entity group transaction.


@dataclass
class Entity:
    """One table row. ``etag`` is ``None`` until the entity has been stored."""

    partition_key: str
    row_key: str
    fields: dict[str, FieldValue] = field(default_factory=dict)
    etag: str | None = None

    def get_str(self, name: str, default: str = "") -> str:
        value = self.fields.get(name)
        return default if value is None else str(value)


@dataclass(frozen=True)
class Op:
    """One operation of a transaction.

    ``kind`` is ``insert`` (fails if present), ``upsert`` (replace whole entity), ``update``
    (replace; needs the entity's ``etag`` unless ``force``), or ``delete`` (``etag`` checked
    when given).
    """

    kind: Literal["insert", "upsert", "update", "delete"]
    entity: Entity


class TableStore(Protocol):
    """Entities with ETags in named tables. All methods may raise ``StorageUnavailable``."""

    def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        """The entity, or ``None`` when it does not exist."""

    def insert(self, table: str, entity: Entity) -> Entity:
        """Store a new entity; raises ``AlreadyExists``. Returns it with its new ETag."""

    def upsert(self, table: str, entity: Entity) -> Entity:
        """Create or replace the entity whatever its ETag. Returns it with its new ETag."""

    def update(self, table: str, entity: Entity) -> Entity:
        """Replace an existing entity if ``entity.etag`` still matches.

        Raises ``ConcurrencyConflict`` when the ETag does not match and ``NotFound`` when the
        entity is gone. ``entity.etag`` must be set.
        """

    def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> bool:
        """Delete the entity; with ``etag`` only if it still matches (else ``ConcurrencyConflict``).

        Returns ``False`` when there was nothing to delete (deleting is idempotent).
        """

    def query(
        self,
        table: str,
        partition_key: str | None = None,
        *,
        row_key_prefix: str | None = None,
        row_key_after: str | None = None,
        where: dict[str, FieldValue] | None = None,
    ) -> Iterator[Entity]:
        """Entities of one partition (or the whole table), optionally filtered.

        ``row_key_prefix`` keeps row keys starting with the prefix; ``row_key_after`` keeps row
        keys strictly greater than it (ordinal string order, the service's order), so a caller
        resuming after a key it has seen reads only what follows; ``where`` keeps entities whose
        fields equal all the given values. Filters are applied by the store, not by the caller.
        Order: partition key, then row key. Entities may be fetched lazily, page by page, as
        the iterator is consumed: stop consuming and nothing more is read.
        """

    def transact(self, table: str, ops: Sequence[Op]) -> list[Entity]:
        """Apply operations on ONE partition atomically (at most ``MAX_BATCH``).

        Raises ``BadRequest`` for mixed partitions or too many operations, and the error of the
        first failing operation (``AlreadyExists``, ``ConcurrencyConflict``, ``NotFound``) when
        the transaction was rejected; nothing was written then. Returns the written entities
        (deletes included) with their new ETags, in operation order.
        """

    def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the store answers."""
