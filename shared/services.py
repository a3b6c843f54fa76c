"""The service's adapters, built from settings on first use and shared by every invocation.

Triggers get their collaborators from :func:`get_services`; the core receives them as arguments,
so tests (and the local host) can hand in other implementations with :func:`use_services`.
Adapter modules, and the SDKs behind them, are imported here lazily: importing the function app
stays cheap and does no network work (Flex Consumption gives an app 30 s to start).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from shared.auth.callers import TokenValidator
from shared.clock import Clock, SystemClock
from shared.deadlines import Timeouts
from shared.errors import ConfigurationError
from shared.observability.logs import configure_logging
from shared.secrets.store import SecretStore
from shared.settings import APP_ROOT, Settings, get_settings, resolve_path
from shared.storage.queues import QueueSender
from shared.storage.tables import TableStore

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

T = TypeVar("T")


class Services:
    """Everything a trigger needs besides its input; each adapter is built on first use.

    Pass an adapter to the constructor to use it instead of the one the settings describe.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        tables: TableStore | None = None,
        queues: QueueSender | None = None,
        secrets: SecretStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._tables = tables
        self._queues = queues
        self._secrets = secrets
        self._tokens: TokenValidator | None = None
        # Re-entrant: a factory given to built() may reach for other adapters.
        self._lock = threading.RLock()
        self._built: dict[str, object] = {}

    def built(self, key: str, factory: Callable[[Services], T]) -> T:
        """A collaborator built once per process from these services (flows, provider kit)."""
        with self._lock:
            if key not in self._built:
                self._built[key] = factory(self)
            return self._built[key]  # type: ignore[return-value]

    @property
    def tables(self) -> TableStore:
        with self._lock:
            if self._tables is None:
                self._tables = build_tables(self.settings)
            return self._tables

    @property
    def queues(self) -> QueueSender:
        with self._lock:
            if self._queues is None:
                self._queues = build_queues(self.settings)
            return self._queues

    @property
    def secrets(self) -> SecretStore:
        with self._lock:
            if self._secrets is None:
                self._secrets = build_secrets(self.settings)
            return self._secrets

    @property
    def tokens(self) -> TokenValidator:
        with self._lock:
            if self._tokens is None:
                self._tokens = TokenValidator(self.settings)
            return self._tokens


def _credential() -> TokenCredential:
    # Managed identity in Azure; developer sign-in elsewhere. Imported only when needed.
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def build_tables(settings: Settings) -> TableStore:
    from shared.storage.azure_tables import AzureTableStore

    if settings.storage_connection_string is not None:
        return AzureTableStore.from_connection_string(
            settings.storage_connection_string.get_secret_value(),
            table_prefix=settings.table_prefix,
            client_options=Timeouts.storage(settings).azure_kwargs(),
        )
    endpoint = settings.storage_table_endpoint
    if not endpoint:
        raise ConfigurationError(
            "STORAGE_CONNECTION_STRING", "set it, or STORAGE_TABLE_ENDPOINT for managed identity"
        )
    return AzureTableStore(
        endpoint,
        _credential(),
        table_prefix=settings.table_prefix,
        client_options=Timeouts.storage(settings).azure_kwargs(),
    )


def build_queues(settings: Settings) -> QueueSender:
    from shared.storage.azure_queues import AzureQueueSender

    if settings.storage_connection_string is not None:
        return AzureQueueSender.from_connection_string(
            settings.storage_connection_string.get_secret_value(),
            client_options=Timeouts.storage(settings).azure_kwargs(),
        )
    endpoint = settings.storage_queue_endpoint
    if not endpoint:
        raise ConfigurationError(
            "STORAGE_CONNECTION_STRING", "set it, or STORAGE_QUEUE_ENDPOINT for managed identity"
        )
    return AzureQueueSender(
        endpoint, _credential(), client_options=Timeouts.storage(settings).azure_kwargs()
    )


def build_secrets(settings: Settings) -> SecretStore:
    if settings.secret_store == "keyvault":
        from shared.secrets.keyvault_store import KeyVaultSecretStore

        return KeyVaultSecretStore(
            settings.require("key_vault_url"),
            _credential(),
            connection_verify=(
                str(resolve_path(settings.provider_ca_bundle))
                if settings.provider_ca_bundle
                else True
            ),
            purge=settings.key_vault_purge_on_delete,
            verify_challenge_resource=settings.key_vault_verify_challenge_resource,
            client_options=Timeouts.key_vault(settings).azure_kwargs(),
        )
    from shared.secrets.local_store import LocalSecretStore

    directory = Path(settings.local_secrets_dir)
    if not directory.is_absolute():
        directory = APP_ROOT / directory
    return LocalSecretStore(directory, settings.secret("local_secrets_key"))


_lock = threading.Lock()
_services: Services | None = None


def get_services() -> Services:
    """The process's services, built from settings on first call."""
    global _services
    with _lock:
        if _services is None:
            settings = get_settings()
            configure_logging(settings.log_level, settings.log_format)
            # Application Insights when its connection string is set (in Azure); else nothing.
            from shared.observability.telemetry import configure_telemetry

            configure_telemetry()
            _services = Services(settings)
        return _services


def use_services(services: Services | None) -> None:
    """Replace the process's services (the local host and end-to-end tests inject a clock)."""
    global _services
    with _lock:
        _services = services
