"""Azure Key Vault behind :class:`~shared.secrets.store.SecretStore` (azure-keyvault-secrets 4.12).

Names: Key Vault secret names allow only ``[0-9a-zA-Z-]``, 1-127 characters
(https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#objects-identifiers-and-versioning).
Ours are any printable text, so :func:`vault_name` maps each to a readable part (runs of other
characters become one ``-``, at most 100 characters) plus ``-`` and 26 base32 characters of the
SHA-256 of the full name: injective in practice, stable, and debuggable in the portal. The
original name is kept in the ``name`` tag; :meth:`KeyVaultSecretStore.names` reads it back from
the listing (tags come with the list, values do not).

Delete: soft-delete is always on in Key Vault, so ``delete`` waits until the secret appears in
the deleted collection (``begin_delete_secret(...).wait()``) and then purges it, so that the same
name can be set again at once. A principal without purge permission gets 403: the secret then
stays recoverable until the vault's retention ends, which we log at info and accept; a later
``set`` of that name recovers the deleted secret first (Key Vault refuses to overwrite it: 409
``ObjectIsDeletedButRecoverable``).

Values are never logged; names are, as they hold only identifiers.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.keyvault.secrets import SecretClient

from shared.errors import SecretStoreUnavailable
from shared.secrets.naming import check_name

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

log = logging.getLogger(__name__)
T = TypeVar("T")

NAME_TAG = "name"
_NOT_ALLOWED = re.compile(r"[^0-9A-Za-z]+")
_READABLE_MAX = 100


def vault_name(name: str) -> str:
    """The Key Vault secret name for one of our names (at most 127 of ``[0-9a-zA-Z-]``)."""
    readable = _NOT_ALLOWED.sub("-", name).strip("-")[:_READABLE_MAX].strip("-")
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    suffix = base64.b32encode(digest).decode("ascii")[:26].lower()
    return f"{readable}-{suffix}" if readable else suffix


def _is_deleted_but_recoverable(exc: HttpResponseError) -> bool:
    # The service's error body carries the detail in error.innererror.code.
    text = str(exc)
    return "ObjectIsDeletedButRecoverable" in text or "deleted but recoverable" in text


class KeyVaultSecretStore:
    """Secrets in one Azure Key Vault.

    ``vault_url`` is the vault's URL (``https://<vault>.vault.azure.net``, or the simulator's
    ``<base_url>/keyvault``); ``credential`` an azure-core ``TokenCredential`` (managed identity
    with "Key Vault Secrets Officer", which includes purge). ``connection_verify`` is a CA bundle
    path or a bool for TLS verification; ``verify_challenge_resource=False`` is needed only for a
    vault whose host is not under the challenge's resource domain (the local simulator).
    ``purge=False`` leaves deleted secrets recoverable (vaults with purge protection).
    """

    def __init__(
        self,
        vault_url: str,
        credential: TokenCredential,
        *,
        connection_verify: str | bool = True,
        verify_challenge_resource: bool = True,
        purge: bool = True,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._client = SecretClient(
            vault_url,
            credential,
            connection_verify=connection_verify,
            verify_challenge_resource=verify_challenge_resource,
            **dict(client_options or {}),
        )
        self._purge = purge

    @staticmethod
    def _call(what: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except AzureError as exc:
            status = getattr(exc, "status_code", None)
            detail = f"{what}: {type(exc).__name__}" + (f" {status}" if status else "")
            raise SecretStoreUnavailable(detail) from exc

    def get(self, name: str) -> str | None:
        check_name(name)
        kv_name = vault_name(name)
        try:
            secret = self._call(f"get {name}", lambda: self._client.get_secret(kv_name))
        except SecretStoreUnavailable as exc:
            if isinstance(exc.__cause__, ResourceNotFoundError):
                return None
            raise
        return secret.value

    def set(self, name: str, value: str) -> None:
        check_name(name)
        if not isinstance(value, str):
            raise TypeError("secret values are text")
        kv_name = vault_name(name)
        tags = {NAME_TAG: name}

        def put() -> None:
            self._client.set_secret(kv_name, value, tags=tags, content_type="text/plain")

        try:
            put()
        except ResourceExistsError as exc:
            if not _is_deleted_but_recoverable(exc):
                raise SecretStoreUnavailable(f"set {name}: {exc.status_code}") from exc
            # Deleted earlier without purge: bring the name back, then write the new value.
            log.info("recovering deleted secret before setting it", extra={"secret": name})
            self._call(
                f"recover {name}",
                lambda: self._client.begin_recover_deleted_secret(kv_name).wait(),
            )
            self._call(f"set {name}", put)
        except AzureError as exc:
            raise SecretStoreUnavailable(f"set {name}: {type(exc).__name__}") from exc

    def delete(self, name: str) -> bool:
        check_name(name)
        kv_name = vault_name(name)
        try:
            self._call(f"delete {name}", lambda: self._client.begin_delete_secret(kv_name).wait())
        except SecretStoreUnavailable as exc:
            if isinstance(exc.__cause__, ResourceNotFoundError):
                return False
            raise
        if self._purge:
            self._purge_deleted(name, kv_name)
        return True

    def _purge_deleted(self, name: str, kv_name: str) -> None:
        try:
            self._client.purge_deleted_secret(kv_name)
        except HttpResponseError as exc:
            if exc.status_code == 403:
                # No purge permission (or purge protection): the secret stays soft-deleted until
                # the vault's retention ends. Deleted is deleted for us; never retry in a loop.
                log.info("secret deleted but not purged (403)", extra={"secret": name})
                return
            raise SecretStoreUnavailable(f"purge {name}: {exc.status_code}") from exc
        except AzureError as exc:
            raise SecretStoreUnavailable(f"purge {name}: {type(exc).__name__}") from exc

    def names(self, prefix: str = "") -> Iterator[str]:
        def collect() -> list[str]:
            found: list[str] = []
            for props in self._client.list_properties_of_secrets():
                original = (props.tags or {}).get(NAME_TAG)
                # Secrets without our tag (or whose tag does not map to their Key Vault name)
                # were not written by this store: not ours to list.
                if original is None or vault_name(original) != props.name:
                    continue
                if original.startswith(prefix):
                    found.append(original)
            return found

        return iter(sorted(self._call("list secrets", collect)))

    def ping(self) -> None:
        # A get of a name that never exists needs only "get" permission; 404 means "answering".
        probe = vault_name("ping probe")
        try:
            self._call("ping", lambda: self._client.get_secret(probe))
        except SecretStoreUnavailable as exc:
            if isinstance(exc.__cause__, ResourceNotFoundError):
                return
            raise

    def close(self) -> None:
        """Close the client's pooled connections (tests, shutdown)."""
        self._client.close()
