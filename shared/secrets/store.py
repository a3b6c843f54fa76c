"""The secret-store interface.

Implementations: :class:`shared.secrets.keyvault_store.KeyVaultSecretStore` (Azure Key Vault),
:class:`shared.secrets.local_store.LocalSecretStore` (encrypted files, the embedded default) and
:class:`shared.secrets.memory_store.MemorySecretStore` (unit tests). All pass
``tests/contract/test_secret_store_contract.py``.

Names are the service's own (``conn--<org>--<id>`` and the like, any printable characters);
each implementation maps them to what its backend allows. Values are text (JSON when
structured). Nothing here logs a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class SecretStore(Protocol):
    """Named secrets. All methods may raise ``SecretStoreUnavailable``."""

    def get(self, name: str) -> str | None:
        """The current value, or ``None`` when there is no such secret."""

    def set(self, name: str, value: str) -> None:
        """Create or replace the secret."""

    def delete(self, name: str) -> bool:
        """Delete the secret for good (Key Vault: delete, then purge when the vault allows).

        Returns ``False`` when it did not exist. Idempotent.
        """

    def names(self, prefix: str = "") -> Iterator[str]:
        """Names of the stored secrets starting with ``prefix`` (retention scans, tests)."""

    def ping(self) -> None:
        """Raise ``SecretStoreUnavailable`` unless the store answers."""
