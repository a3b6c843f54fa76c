"""The rule for secret names every store applies, so memory, local and Key Vault agree.

Names are the service's own (``conn--<org>--<id>`` and the like): 1 to 256 printable
characters. 256 is Key Vault's limit for a tag value, where
:class:`~shared.secrets.keyvault_store.KeyVaultSecretStore` keeps the original name
(https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates).
"""

from __future__ import annotations

from shared.errors import BadRequest

MAX_NAME_LENGTH = 256


def check_name(name: str) -> None:
    """Raise ``BadRequest`` unless ``name`` is 1-256 printable characters."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise BadRequest("secret names have 1 to 256 characters", code="invalid_secret_name")
    if not name.isprintable():
        raise BadRequest("secret names are printable text", code="invalid_secret_name")
