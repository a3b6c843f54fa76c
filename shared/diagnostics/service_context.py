"""Placeholder values the service itself knows, for texts it shows: its own OAuth client ids.

A fix step such as "search for {client_id}" is only useful with the real value; the service's
client ids are configuration (``MICROSOFT_CLIENT_ID``, ``GOOGLE_CLIENT_ID``), not secrets.
"""

from __future__ import annotations

from shared.settings import Settings


def service_context(settings: Settings, provider: str) -> dict[str, str]:
    """``{"client_id": ...}`` for ``provider``'s entries when the service has one configured."""
    client_id = {
        "microsoft": settings.microsoft_client_id,
        "google": settings.google_client_id,
    }.get(provider)
    return {"client_id": client_id} if client_id else {}
