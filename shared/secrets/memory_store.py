"""An in-memory :class:`~shared.secrets.store.SecretStore` for unit tests.

Passes ``tests/contract/test_secret_store_contract.py`` with the local and Key Vault stores.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from shared.secrets.naming import check_name


class MemorySecretStore:
    """Secrets in a dict. ``MemorySecretStore()`` needs no arguments."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        check_name(name)
        with self._lock:
            return self._values.get(name)

    def set(self, name: str, value: str) -> None:
        check_name(name)
        with self._lock:
            self._values[name] = value

    def delete(self, name: str) -> bool:
        check_name(name)
        with self._lock:
            return self._values.pop(name, None) is not None

    def names(self, prefix: str = "") -> Iterator[str]:
        with self._lock:
            found = sorted(n for n in self._values if n.startswith(prefix))
        return iter(found)

    def ping(self) -> None:
        """Always answers: memory is always there."""
