"""Azure Table storage (and Azurite) behind :class:`~shared.storage.tables.TableStore`.

Built on azure-data-tables 12.7. One ``TableServiceClient`` per store, so every table shares
one connection pool; tables are created on first use, once per table per process. Library
errors are translated here, once, into :mod:`shared.errors`:

==============================================  ==========================
azure-core / azure-data-tables                  service error
==============================================  ==========================
``ResourceExistsError`` (EntityAlreadyExists)   ``AlreadyExists``
``ResourceModifiedError`` / 412                 ``ConcurrencyConflict``
``ResourceNotFoundError`` on update             ``NotFound``
``ServiceRequestError``/``ServiceResponseError``  ``StorageUnavailable``
other 5xx, authentication failures              ``StorageUnavailable``
other 4xx                                       ``BadRequest``
==============================================  ==========================

Values are checked by :mod:`shared.storage.entity_rules` before any request is sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableClient,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
)

from shared.errors import (
    AlreadyExists,
    BadRequest,
    ConcurrencyConflict,
    NotFound,
    ServiceError,
    StorageUnavailable,
)
from shared.storage import entity_rules
from shared.storage.tables import Entity, FieldValue, Op
from shared.storage.transport import client_kwargs

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

T = TypeVar("T")

# Error codes of entity group transactions (the failing part's code; the SDK puts the
# failing operation's index before a colon in the message and exposes it as ``.index``).
# https://learn.microsoft.com/rest/api/storageservices/table-service-error-codes
_CONFLICT_CODES = {"UpdateConditionNotSatisfied", "ConditionNotMet"}
_EXISTS_CODES = {"EntityAlreadyExists"}
_MISSING_CODES = {"ResourceNotFound", "EntityNotFound"}


def _translate(exc: AzureError, what: str) -> ServiceError:
    """The service error for an azure-core error raised while doing ``what``."""
    if isinstance(exc, ResourceModifiedError):
        return ConcurrencyConflict(f"{what}: changed by someone else")
    if isinstance(exc, ResourceExistsError):
        return AlreadyExists(f"{what}: already exists")
    if isinstance(exc, ResourceNotFoundError):
        return NotFound(f"{what}: not found")
    if isinstance(exc, ServiceRequestError | ServiceResponseError | ClientAuthenticationError):
        return StorageUnavailable(f"{what}: {type(exc).__name__}")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        if status == 412:
            return ConcurrencyConflict(f"{what}: changed by someone else")
        if 400 <= status < 500 and status not in (401, 403, 408, 429):
            code = getattr(exc, "error_code", None)
            return BadRequest(f"{what}: rejected by Table storage ({code})")
    return StorageUnavailable(f"{what}: {type(exc).__name__}")


def _translate_transaction(exc: TableTransactionError, what: str) -> ServiceError:
    # The SDK sets ``error_code`` (a TableErrorCode, or the raw text) on the errors it decodes.
    raw = getattr(exc, "error_code", None)
    code = str(getattr(raw, "value", raw) or "")
    where = f"{what}, operation {exc.index}"
    if code in _CONFLICT_CODES or exc.status_code == 412:
        return ConcurrencyConflict(f"{where}: changed by someone else")
    if code in _EXISTS_CODES:
        return AlreadyExists(f"{where}: already exists")
    if code in _MISSING_CODES or exc.status_code == 404:
        return NotFound(f"{where}: not found")
    return _translate(HttpResponseError(message=str(exc), response=exc.response), where)


def _to_sdk(entity: Entity, fields: dict[str, FieldValue]) -> dict[str, Any]:
    body: dict[str, Any] = {"PartitionKey": entity.partition_key, "RowKey": entity.row_key}
    for name, value in fields.items():
        # A plain int is sent as Edm.Int32; larger ones must be typed Edm.Int64.
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not entity_rules.INT32_MIN <= value <= entity_rules.INT32_MAX
        ):
            body[name] = EntityProperty(value, EdmType.INT64)
        else:
            body[name] = value
    return body


def _from_sdk(raw: Mapping[str, Any]) -> Entity:
    fields: dict[str, FieldValue] = {}
    for name, value in raw.items():
        if name in ("PartitionKey", "RowKey"):
            continue
        if isinstance(value, EntityProperty):
            value = value.value
        if isinstance(value, datetime):
            # The SDK's TablesEntityDatetime subclass remembers the wire text; hand back a plain
            # timezone-aware UTC datetime so values compare and serialize like any other.
            value = datetime(
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
                UTC,
            )
        fields[name] = value
    metadata = getattr(raw, "metadata", {}) or {}
    return Entity(raw["PartitionKey"], raw["RowKey"], fields, metadata.get("etag"))


def _odata_literal(value: FieldValue) -> str:
    """An OData v3 literal. We format it ourselves: the SDK's ``parameters`` turns 1 into true."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        in_int32 = entity_rules.INT32_MIN <= value <= entity_rules.INT32_MAX
        return str(value) if in_int32 else f"{value}L"
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".eEn") else f"{text}.0"
    if isinstance(value, datetime):
        return f"datetime'{value.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"
    assert isinstance(value, str)
    return "'" + value.replace("'", "''") + "'"


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (or None)."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return None
    return prefix[:-1] + chr(last + 1)


def build_filter(
    partition_key: str | None,
    row_key_prefix: str | None,
    where: dict[str, FieldValue],
    row_key_after: str | None = None,
) -> str:
    """The OData ``$filter`` for :meth:`AzureTableStore.query` (public for its unit tests)."""
    clauses: list[str] = []
    if partition_key is not None:
        clauses.append(f"PartitionKey eq {_odata_literal(partition_key)}")
    if row_key_prefix:
        clauses.append(f"RowKey ge {_odata_literal(row_key_prefix)}")
        upper = _prefix_upper_bound(row_key_prefix)
        if upper is not None:
            clauses.append(f"RowKey lt {_odata_literal(upper)}")
    if row_key_after is not None:
        # With a PartitionKey, a range on RowKey is what the design guide calls a "range
        # query", served from the (PartitionKey, RowKey) index: only the rows that follow
        # are read and returned, not the whole partition.
        # https://learn.microsoft.com/azure/storage/tables/table-storage-design-for-query
        clauses.append(f"RowKey gt {_odata_literal(row_key_after)}")
    for name, value in where.items():
        clauses.append(f"{name} eq {_odata_literal(value)}")
    return " and ".join(clauses)


def _quote_key(key: str) -> str:
    # OData string literal in the entity's URL: a single quote is doubled (what the SDK's
    # ``_prepare_key`` does for TableClient.delete_entity).
    return key.replace("'", "''")


class AzureTableStore:
    """Table storage through one ``TableServiceClient``.

    Construct with :meth:`from_connection_string` (Azurite, account keys) or with an endpoint
    (``https://<account>.table.core.windows.net``) and an azure-core ``TokenCredential`` (managed
    identity). ``table_prefix`` is prepended to every table name (one storage account shared by
    several deployments or test runs); the result must still be a valid table name.
    """

    def __init__(
        self,
        endpoint: str,
        credential: TokenCredential | None = None,
        *,
        table_prefix: str = "",
        client_options: Mapping[str, Any] | None = None,
        _service: TableServiceClient | None = None,
    ) -> None:
        self._service = _service or TableServiceClient(
            endpoint, credential=credential, **client_kwargs(client_options)
        )
        self._prefix = table_prefix
        self._clients: dict[str, TableClient] = {}
        self._created: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        *,
        table_prefix: str = "",
        client_options: Mapping[str, Any] | None = None,
    ) -> AzureTableStore:
        """A store for an account connection string (Azurite's included). ``client_options``
        are azure-core client keywords: timeouts and retries (:mod:`shared.deadlines`)."""
        service = TableServiceClient.from_connection_string(
            connection_string, **client_kwargs(client_options)
        )
        return cls(service.url, table_prefix=table_prefix, _service=service)

    def _client(self, table: str) -> TableClient:
        name = self._prefix + table
        entity_rules.check_table_name(name)
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._service.get_table_client(name)
                self._clients[name] = client
            if name in self._created:
                return client
        # Create outside the lock; a racing thread creating the same table is harmless.
        self._call(f"create table {name}", lambda: self._ensure_table(client))
        with self._lock:
            self._created.add(name)
        return client

    @staticmethod
    def _ensure_table(client: TableClient) -> None:
        try:
            client.create_table()
        except ResourceExistsError:
            return

    @staticmethod
    def _call(what: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except TableTransactionError as exc:
            raise _translate_transaction(exc, what) from exc
        except AzureError as exc:
            raise _translate(exc, what) from exc

    def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        entity_rules.check_key("partition key", partition_key)
        entity_rules.check_key("row key", row_key)
        client = self._client(table)
        try:
            raw = self._call(f"get {table}", lambda: client.get_entity(partition_key, row_key))
        except NotFound:
            return None
        return _from_sdk(raw)

    def insert(self, table: str, entity: Entity) -> Entity:
        body = _to_sdk(entity, entity_rules.check_entity(entity))
        client = self._client(table)
        meta = self._call(f"insert into {table}", lambda: client.create_entity(body))
        return Entity(entity.partition_key, entity.row_key, _from_sdk(body).fields, meta["etag"])

    def upsert(self, table: str, entity: Entity) -> Entity:
        body = _to_sdk(entity, entity_rules.check_entity(entity))
        client = self._client(table)
        meta = self._call(
            f"upsert into {table}", lambda: client.upsert_entity(body, mode=UpdateMode.REPLACE)
        )
        return Entity(entity.partition_key, entity.row_key, _from_sdk(body).fields, meta["etag"])

    def update(self, table: str, entity: Entity) -> Entity:
        if entity.etag is None:
            raise BadRequest("update needs the entity's etag", code="etag_required")
        body = _to_sdk(entity, entity_rules.check_entity(entity))
        client = self._client(table)
        etag = entity.etag
        meta = self._call(
            f"update {table}",
            lambda: client.update_entity(
                body,
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            ),
        )
        return Entity(entity.partition_key, entity.row_key, _from_sdk(body).fields, meta["etag"])

    def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> bool:
        # A plain Delete Entity (not a one-operation transaction: its multipart body cost a
        # tenth of a worker's CPU). TableClient.delete_entity hides a 404, but the interface
        # reports whether something was deleted, so the generated operation is called, as
        # TableClient.delete_entity does itself (azure-data-tables 12.x).
        entity_rules.check_key("partition key", partition_key)
        entity_rules.check_key("row key", row_key)
        client = self._client(table)
        # IfPresent sends "If-Match: *", what an unconditional delete needs.
        condition = MatchConditions.IfNotModified if etag else MatchConditions.IfPresent

        def delete() -> None:
            client._client.table.delete_entity(  # the generated operation (see above)
                table=client.table_name,
                partition_key=_quote_key(partition_key),
                row_key=_quote_key(row_key),
                etag=etag,  # type: ignore[arg-type]  # None with IfPresent: "If-Match: *"
                match_condition=condition,
            )

        try:
            self._call(f"delete in {table}", delete)
        except NotFound:
            return False
        return True

    def query(
        self,
        table: str,
        partition_key: str | None = None,
        *,
        row_key_prefix: str | None = None,
        row_key_after: str | None = None,
        where: dict[str, FieldValue] | None = None,
    ) -> Iterator[Entity]:
        if partition_key is not None:
            entity_rules.check_key("partition key", partition_key)
        query_filter = build_filter(
            partition_key, row_key_prefix, entity_rules.check_where(where or {}), row_key_after
        )
        client = self._client(table)
        what = f"query {table}"
        pages = self._call(
            what,
            lambda: client.query_entities(query_filter) if query_filter else client.list_entities(),
        )
        # Everything above runs when query() is called; the pages are fetched lazily.
        return self._iterate(what, iter(pages))

    def _iterate(self, what: str, iterator: Iterator[Any]) -> Iterator[Entity]:
        while True:
            # Each next() may fetch a page, so it is I/O and must be translated.
            raw = self._call(what, lambda: next(iterator, None))
            if raw is None:
                return
            yield _from_sdk(raw)

    def transact(self, table: str, ops: Sequence[Op]) -> list[Entity]:
        entity_rules.check_batch(ops)
        operations: list[Any] = []
        bodies: list[dict[str, Any]] = []
        for op in ops:
            entity = op.entity
            body = _to_sdk(entity, entity_rules.check_entity(entity))
            bodies.append(body)
            if op.kind == "insert":
                operations.append(("create", body))
            elif op.kind == "upsert":
                operations.append(("upsert", body, {"mode": UpdateMode.REPLACE}))
            else:
                # update/delete: check the ETag when given; without one the entity must exist
                # (If-Match: *), which is what Azure does for a forced update or delete.
                options: dict[str, Any] = (
                    {"etag": entity.etag, "match_condition": MatchConditions.IfNotModified}
                    if entity.etag
                    else {"match_condition": MatchConditions.Unconditionally}
                )
                if op.kind == "update":
                    options["mode"] = UpdateMode.REPLACE
                operations.append((op.kind, body, options))
        client = self._client(table)
        results = self._call(
            f"transaction on {table}", lambda: client.submit_transaction(operations)
        )
        written: list[Entity] = []
        for op, body, meta in zip(ops, bodies, results, strict=True):
            etag = None if op.kind == "delete" else meta.get("etag")
            fields = _from_sdk(body).fields if op.kind != "delete" else dict(op.entity.fields)
            written.append(Entity(op.entity.partition_key, op.entity.row_key, fields, etag))
        return written

    def ping(self) -> None:
        self._call("ping table service", lambda: self._service.get_service_properties())

    def close(self) -> None:
        """Close the pooled connections (tests, shutdown)."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
            self._created.clear()
        for client in clients:
            client.close()
        self._service.close()
