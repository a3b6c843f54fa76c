"""Bulk operations over a table store, batched into transactions of at most 100 per partition."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from shared.errors import NotFound
from shared.storage.tables import MAX_BATCH, Entity, Op, TableStore


def delete_entities(tables: TableStore, table: str, entities: Iterable[Entity]) -> int:
    """Delete the given entities (ETags ignored), grouped per partition; returns how many."""
    by_partition: dict[str, list[Entity]] = defaultdict(list)
    for entity in entities:
        by_partition[entity.partition_key].append(entity)
    count = 0
    for rows in by_partition.values():
        for start in range(0, len(rows), MAX_BATCH):
            chunk = rows[start : start + MAX_BATCH]
            unguarded = [Entity(e.partition_key, e.row_key) for e in chunk]
            try:
                tables.transact(table, [Op("delete", e) for e in unguarded])
                count += len(unguarded)
            except NotFound:
                # Someone deleted one of them meanwhile; a batch fails whole, so go one by one.
                count += sum(tables.delete(table, e.partition_key, e.row_key) for e in unguarded)
    return count


def delete_partition(tables: TableStore, table: str, partition_key: str) -> int:
    """Delete every entity of one partition; returns how many."""
    return delete_entities(tables, table, list(tables.query(table, partition_key)))
