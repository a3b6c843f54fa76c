"""Where a service integration's settings and credential live.

* Table ``serviceconfig``: PartitionKey = org, RowKey = integration id: provider, credential
  type and expiry, the provider's non-secret settings (JSON), the probe mailbox, the credential
  version. Never the secret.
* Secret store: :func:`credential_secret_name` (``int-<id>-credential``) holds the secret as
  the provider parsed it (a client secret, a certificate PEM with its key, a service-account
  key). The name starts with the integration's prefix, so erasing the integration deletes it.
"""

from __future__ import annotations

import json
from datetime import datetime

from shared.consent.connections import integration_secret_prefix
from shared.errors import NotFound
from shared.secrets.store import SecretStore
from shared.service.model import ServiceConfig
from shared.storage.keys import encode_key
from shared.storage.tables import Entity, TableStore

SERVICE_CONFIG = "serviceconfig"


def credential_secret_name(integration_id: str) -> str:
    return f"{integration_secret_prefix(integration_id)}credential"


def _when(entity: Entity, name: str) -> datetime | None:
    value = entity.fields.get(name)
    return value if isinstance(value, datetime) else None


def _entity(config: ServiceConfig) -> Entity:
    return Entity(
        encode_key(config.org),
        config.integration_id,
        {
            "org": config.org,
            "provider": config.provider,
            "credential_type": config.credential_type,
            "settings": json.dumps(config.settings, sort_keys=True),
            "credential_expires_on": config.credential_expires_on,
            "probe_mailbox": config.probe_mailbox,
            "credential_version": config.credential_version,
            "credential_set_at": config.credential_set_at,
            "credential_error": config.credential_error,
            "expiry_warned": config.expiry_warned,
            "matched_at": config.matched_at,
        },
        config.etag,
    )


def _config(entity: Entity) -> ServiceConfig:
    version = entity.fields.get("credential_version")
    return ServiceConfig(
        org=entity.get_str("org"),
        integration_id=entity.row_key,
        provider=entity.get_str("provider"),
        credential_type=entity.get_str("credential_type"),
        settings=dict(json.loads(entity.get_str("settings") or "{}")),
        credential_expires_on=_when(entity, "credential_expires_on"),
        probe_mailbox=entity.get_str("probe_mailbox") or None,
        credential_version=version if isinstance(version, int) else 1,
        credential_set_at=_when(entity, "credential_set_at"),
        credential_error=entity.get_str("credential_error") or None,
        expiry_warned=entity.get_str("expiry_warned"),
        matched_at=_when(entity, "matched_at"),
        etag=entity.etag,
    )


class ServiceConfigs:
    """Reads and writes ``serviceconfig`` rows and the credential secret."""

    def __init__(self, tables: TableStore, secrets: SecretStore) -> None:
        self._tables = tables
        self._secrets = secrets

    def get(self, org: str, integration_id: str) -> ServiceConfig:
        entity = self._tables.get(SERVICE_CONFIG, encode_key(org), integration_id)
        if entity is None:
            raise NotFound(f"integration {integration_id} has no service settings")
        return _config(entity)

    def find(self, org: str, integration_id: str) -> ServiceConfig | None:
        entity = self._tables.get(SERVICE_CONFIG, encode_key(org), integration_id)
        return None if entity is None else _config(entity)

    def save(self, config: ServiceConfig) -> ServiceConfig:
        """Insert or update (ETag-checked when the row was loaded)."""
        entity = _entity(config)
        stored = (
            self._tables.update(SERVICE_CONFIG, entity)
            if config.etag
            else self._tables.insert(SERVICE_CONFIG, entity)
        )
        config.etag = stored.etag
        return config

    def secret(self, config: ServiceConfig) -> str:
        value = self._secrets.get(credential_secret_name(config.integration_id))
        if value is None:
            raise NotFound(
                f"integration {config.integration_id} has no stored credential",
                code="credential_missing",
            )
        return value

    def set_secret(self, integration_id: str, value: str) -> None:
        self._secrets.set(credential_secret_name(integration_id), value)

    def delete(self, org: str, integration_id: str) -> int:
        """Delete the row (the secret goes with the integration's secret prefix)."""
        return int(self._tables.delete(SERVICE_CONFIG, encode_key(org), integration_id))
