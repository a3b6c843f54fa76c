"""Checks every table-store implementation applies before any I/O, so all behave alike.

The rules are Azure Table storage's, enforced in memory too so that a unit test with
:class:`~shared.storage.memory_tables.MemoryTableStore` fails where Azure would:

* Table names: alphanumeric, 3 to 63 characters, starting with a letter.
* ``PartitionKey``/``RowKey``: at most 1 KiB; none of ``/ \\ # ?`` and no control characters
  (U+0000-U+001F, U+007F-U+009F).
* Property names: C# identifiers of at most 255 characters, not a system property.
* Values: ``str`` (at most 32 K UTF-16 code units), ``int`` (64-bit), ``float``, ``bool``,
  timezone-aware ``datetime`` (stored as UTC, from 1601-01-01 to 9999-12-31: the documented
  ``Edm.DateTime`` range; an earlier value is written by Azurite but cannot be read back by the
  SDK, so one such row would fail every query of its partition), or ``None`` (not stored).

Source: "Understanding the Table service data model",
https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from shared.errors import BadRequest
from shared.storage.tables import MAX_BATCH, Entity, FieldValue, Op

_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_FORBIDDEN_KEY_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
_SYSTEM_PROPERTIES = frozenset({"PartitionKey", "RowKey", "Timestamp", "ETag"})
_MAX_KEY_BYTES = 1024
_MAX_STRING_UNITS = 32 * 1024
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# Edm.DateTime: "a 64-bit value expressed as Coordinated Universal Time (UTC). The supported
# DateTime range begins from 12:00 midnight, January 1, 1601 A.D. (C.E.), UTC. The range ends
# at December 31, 9999."
DATETIME_MIN = datetime(1601, 1, 1, tzinfo=UTC)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def check_table_name(name: str) -> None:
    """Raise ``BadRequest`` unless ``name`` is a valid Azure table name."""
    if not _TABLE_NAME.match(name):
        raise BadRequest(
            f"invalid table name {name!r}: 3-63 letters/digits, starting with a letter",
            code="invalid_table_name",
        )


def check_key(kind: str, value: str) -> None:
    """Raise ``BadRequest`` when a partition or row key breaks Table storage's key rules."""
    if not isinstance(value, str):
        raise BadRequest(f"{kind} must be a string", code="invalid_key")
    if _FORBIDDEN_KEY_CHARS.search(value):
        raise BadRequest(
            f"{kind} contains a character Table storage forbids (/ \\ # ? or a control character)",
            code="invalid_key",
        )
    if len(value.encode("utf-8")) > _MAX_KEY_BYTES:
        raise BadRequest(f"{kind} is longer than 1 KiB", code="invalid_key")


def normalize_value(name: str, value: FieldValue) -> FieldValue:
    """The value as stored (datetimes converted to UTC), or ``BadRequest``/``TypeError``.

    ``TypeError`` is for values of a type the interface does not allow at all (a programming
    error: calendar content or bytes must never reach a table row); ``BadRequest`` for values
    of an allowed type that Table storage cannot hold.
    """
    if value is None or isinstance(value, bool | str | float):
        if isinstance(value, str) and len(value.encode("utf-16-le")) // 2 > _MAX_STRING_UNITS:
            raise BadRequest(f"field {name} is longer than 32 K characters", code="invalid_field")
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise BadRequest(f"field {name} does not fit in 64 bits", code="invalid_field")
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise BadRequest(f"field {name} is a naive datetime; use UTC", code="invalid_field")
        try:
            utc = value.astimezone(UTC)
        except OverflowError as exc:
            raise BadRequest(
                f"field {name} is outside the storable range", code="invalid_field"
            ) from exc
        if utc < DATETIME_MIN:
            raise BadRequest(
                f"field {name} is before 1601-01-01, the earliest time Table storage keeps",
                code="invalid_field",
            )
        # Table storage keeps 100 ns ticks; Python keeps microseconds, so nothing is lost.
        return datetime(
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, UTC
        )
    raise TypeError(f"field {name}: {type(value).__name__} cannot be stored in a table row")


def normalized_fields(fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
    """Checked copy of ``fields`` without ``None`` values (a ``None`` field is not stored)."""
    out: dict[str, FieldValue] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not _FIELD_NAME.match(name) or name in _SYSTEM_PROPERTIES:
            raise BadRequest(f"invalid field name {name!r}", code="invalid_field")
        normalized = normalize_value(name, value)
        if normalized is not None:
            out[name] = normalized
    return out


def check_entity(entity: Entity) -> dict[str, FieldValue]:
    """Check keys and fields of ``entity``; returns the normalized fields."""
    check_key("partition key", entity.partition_key)
    check_key("row key", entity.row_key)
    return normalized_fields(entity.fields)


def check_where(where: dict[str, FieldValue]) -> dict[str, FieldValue]:
    """Checked ``where`` filter; ``None`` cannot be matched (an absent field has no value)."""
    for name, value in where.items():
        if value is None:
            raise BadRequest(f"where: field {name} cannot be matched against None")
    return normalized_fields(where)


def check_batch(ops: Sequence[Op]) -> str:
    """Check a transaction's shape; returns its partition key.

    Azure rejects an entity group transaction with more than 100 operations, with more than
    one partition, or that touches the same entity twice; we reject these before any I/O.
    """
    if not ops:
        raise BadRequest("a transaction needs at least one operation", code="invalid_transaction")
    if len(ops) > MAX_BATCH:
        raise BadRequest(
            f"a transaction holds at most {MAX_BATCH} operations, got {len(ops)}",
            code="invalid_transaction",
        )
    partitions = {op.entity.partition_key for op in ops}
    if len(partitions) > 1:
        raise BadRequest("a transaction must stay in one partition", code="invalid_transaction")
    rows = [op.entity.row_key for op in ops]
    if len(set(rows)) != len(rows):
        raise BadRequest("a transaction touches the same entity twice", code="invalid_transaction")
    for op in ops:
        if op.kind not in ("insert", "upsert", "update", "delete"):
            raise BadRequest(f"unknown operation {op.kind!r}", code="invalid_transaction")
        check_entity(op.entity)
    return partitions.pop()


def matches(fields: dict[str, FieldValue], where: dict[str, FieldValue]) -> bool:
    """Equality as Table storage's ``eq`` sees it: same type family and same value."""
    for name, wanted in where.items():
        have = fields.get(name)
        if have is None or isinstance(have, bool) != isinstance(wanted, bool):
            return False
        if isinstance(have, int) != isinstance(wanted, int):
            return False  # Edm.Int32/Int64 never equal Edm.Double
        if isinstance(have, str) != isinstance(wanted, str) or have != wanted:
            return False
    return True
