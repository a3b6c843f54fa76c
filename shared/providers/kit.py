"""How the core reaches the providers: one object, built from settings in production.

Implemented by :class:`shared.providers.factory.SettingsProviderKit` (the real adapters, pointed
at Microsoft and Google, or at the local simulator by settings alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from shared.providers.base import CalendarClient, DelegatedAuth, TokenSource


class ProviderKit(Protocol):
    def close(self) -> None:
        """Release pooled connections."""

    def delegated(self, provider: str) -> DelegatedAuth:
        """Per-user OAuth for ``microsoft`` or ``google``."""

    def calendar(
        self,
        provider: str,
        tokens: TokenSource,
        *,
        user: str = "me",
        mailbox_key: str | None = None,
    ) -> CalendarClient:
        """A calendar client for the token's own calendar (``me``) or a given mailbox.
        ``mailbox_key`` (the mailbox owner's directory id) shares Graph's 4-concurrent-requests
        cap with every other client of that mailbox, delegated or app-only."""

    def room_directory(self, provider: str, *, tenant: str, tokens: TokenSource) -> CalendarClient:
        """A client able to list the suite's rooms: Microsoft uses an app-only token for
        ``tenant`` (``Place.Read.All`` is an application permission); Google uses ``tokens``
        (the Admin directory's delegated resource scope)."""

    def admin_consent_url(self, *, tenant: str | None, redirect_uri: str, state: str) -> str:
        """Microsoft's admin-consent endpoint for the service's app (``tenant`` or
        ``organizations``)."""

    def parse_admin_consent(self, params: Mapping[str, str]) -> str:
        """The tenant id that granted admin consent; ``ConsentFailed`` when it was refused."""
