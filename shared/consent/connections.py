"""User connections: who connected which calendar account to which integration.

Table ``connections``: PartitionKey = ``org|integration``, RowKey = the user's subject. The row
holds status, account, provider ids, granted scopes and timestamps; never a token. The token blob
(msal's serialized cache or Google's authorized-user JSON) lives in the secret store under
:func:`token_secret_name`, which starts with the integration's secret prefix so that erasing an
integration finds every secret it owns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.secrets.store import SecretStore
from shared.storage.bulk import delete_partition
from shared.storage.keys import encode_key, join_key
from shared.storage.tables import Entity, TableStore

CONNECTIONS = "connections"


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"


def integration_secret_prefix(integration_id: str) -> str:
    """Every secret an integration owns starts with this (the purge deletes by prefix)."""
    return f"int-{integration_id}-"


def token_secret_name(integration_id: str, subject: str) -> str:
    # The subject is hashed: secret names show up in vault listings and diagnostics.
    digest = hashlib.sha256(subject.encode()).hexdigest()[:40]
    return f"{integration_secret_prefix(integration_id)}conn-{digest}"


@dataclass
class Connection:
    org: str
    integration_id: str
    subject: str
    status: ConnectionStatus
    account: str
    user_id: str
    tenant: str
    scopes: frozenset[str]
    connected_at: datetime
    updated_at: datetime
    last_error: str | None = None
    etag: str | None = None

    @property
    def secret_name(self) -> str:
        return token_secret_name(self.integration_id, self.subject)


def _to_entity(c: Connection) -> Entity:
    return Entity(
        join_key(c.org, c.integration_id),
        encode_key(c.subject),
        {
            "org": c.org,
            "integration_id": c.integration_id,
            "subject": c.subject,
            "status": c.status.value,
            "account": c.account,
            "user_id": c.user_id,
            "tenant": c.tenant,
            "scopes": " ".join(sorted(c.scopes)),
            "connected_at": c.connected_at,
            "updated_at": c.updated_at,
            "last_error": c.last_error,
        },
        c.etag,
    )


def _from_entity(e: Entity) -> Connection:
    connected_at, updated_at = e.fields["connected_at"], e.fields["updated_at"]
    if not isinstance(connected_at, datetime) or not isinstance(updated_at, datetime):
        raise ValueError(f"connection row {e.row_key} has no timestamps")
    return Connection(
        org=e.get_str("org"),
        integration_id=e.get_str("integration_id"),
        subject=e.get_str("subject"),
        status=ConnectionStatus(e.get_str("status")),
        account=e.get_str("account"),
        user_id=e.get_str("user_id"),
        tenant=e.get_str("tenant"),
        scopes=frozenset(e.get_str("scopes").split()),
        connected_at=connected_at,
        updated_at=updated_at,
        last_error=e.get_str("last_error") or None,
        etag=e.etag,
    )


class ConnectionRepository:
    """Connection rows and their token blobs, kept consistent: secret first, then the row."""

    def __init__(self, tables: TableStore, secrets: SecretStore) -> None:
        self._tables = tables
        self._secrets = secrets

    def get(self, org: str, integration_id: str, subject: str) -> Connection | None:
        entity = self._tables.get(CONNECTIONS, join_key(org, integration_id), encode_key(subject))
        return None if entity is None else _from_entity(entity)

    def for_integration(self, org: str, integration_id: str) -> list[Connection]:
        return [
            _from_entity(e) for e in self._tables.query(CONNECTIONS, join_key(org, integration_id))
        ]

    def save(self, connection: Connection, token_blob: str | None = None) -> Connection:
        """Store the row (and the token blob first, when given); last writer wins."""
        if token_blob is not None:
            self._secrets.set(connection.secret_name, token_blob)
        stored = self._tables.upsert(CONNECTIONS, _to_entity(connection))
        connection.etag = stored.etag
        return connection

    def token_blob(self, connection: Connection) -> str | None:
        return self._secrets.get(connection.secret_name)

    def store_token_blob(self, connection: Connection, token_blob: str) -> None:
        """Persist a refreshed blob (only called when the token cache really changed)."""
        self._secrets.set(connection.secret_name, token_blob)

    def delete(self, connection: Connection) -> None:
        """Remove the tokens, then the row (a crash in between leaves a row without tokens,
        which reads as needing to reconnect: never a token without its row)."""
        self._secrets.delete(connection.secret_name)
        self._tables.delete(
            CONNECTIONS,
            join_key(connection.org, connection.integration_id),
            encode_key(connection.subject),
        )

    def erase_integration(self, org: str, integration_id: str) -> int:
        """Delete every connection row of an integration (its secrets go by prefix)."""
        return delete_partition(self._tables, CONNECTIONS, join_key(org, integration_id))
