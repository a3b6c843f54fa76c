"""Which :class:`~shared.service.ports.ServiceProvider` serves which cloud suite.

A provider module is imported on first use (importing the app stays cheap); one instance per
process and settings. To add a suite, add its ``module:Class`` to :data:`PROVIDERS`.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from shared.errors import BadRequest
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.service.ports import ServiceProvider

PROVIDERS: dict[str, str] = {
    "microsoft": "shared.providers.microsoft.service:MicrosoftServiceProvider",
    "google": "shared.providers.google.service:GoogleServiceProvider",
}

_lock = threading.Lock()
_built: dict[tuple[int, str], ServiceProvider] = {}


def service_provider(settings: Settings, provider: str) -> ServiceProvider:
    """The provider's implementation; ``BadRequest provider_not_supported`` when none exists."""
    target = PROVIDERS.get(provider)
    if target is None:
        raise BadRequest(
            f"service integrations are not available for {provider!r}",
            code="provider_not_supported",
        )
    key = (id(settings), provider)
    with _lock:
        found = _built.get(key)
        if found is None:
            module, _, name = target.partition(":")
            found = getattr(importlib.import_module(module), name)(settings)
            _built[key] = found
        return found


def type_label(provider: str) -> str:
    """The list's "Type" column for a provider (the article's words)."""
    return {"microsoft": "Microsoft Exchange", "google": "Google"}.get(provider, provider)
