"""The real provider kit: adapters built from settings, one of each per process.

Importing this module imports no provider SDK; each adapter module is imported on first use.
The same code talks to Microsoft and Google in Azure and to the local simulator in development
and tests: only settings (authority host, API URLs, CA bundle) differ.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.errors import ConsentFailed
from shared.providers.base import CalendarClient, DelegatedAuth, TokenSource
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.providers.google.auth import GoogleDelegatedAuth
    from shared.providers.microsoft.auth import MicrosoftDelegatedAuth


class SettingsProviderKit:
    """Implements :class:`shared.providers.kit.ProviderKit`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._microsoft: MicrosoftDelegatedAuth | None = None
        self._google: GoogleDelegatedAuth | None = None
        self._lock = threading.Lock()

    def microsoft(self) -> MicrosoftDelegatedAuth:
        with self._lock:
            if self._microsoft is None:
                from shared.providers.microsoft.auth import MicrosoftDelegatedAuth

                self._microsoft = MicrosoftDelegatedAuth(self._settings)
            return self._microsoft

    def google(self) -> GoogleDelegatedAuth:
        with self._lock:
            if self._google is None:
                from shared.providers.google.auth import GoogleDelegatedAuth

                self._google = GoogleDelegatedAuth(self._settings)
            return self._google

    def close(self) -> None:
        """Release pooled connections (tests; a host shutting down)."""
        from shared.providers.microsoft.graph_http import close_shared_clients

        with self._lock:
            if self._microsoft is not None:
                self._microsoft.close()
        close_shared_clients()

    def delegated(self, provider: str) -> DelegatedAuth:
        if provider == "microsoft":
            return self.microsoft()
        if provider == "google":
            return self.google()
        raise ValueError(f"unknown provider {provider!r}")

    def calendar(
        self,
        provider: str,
        tokens: TokenSource,
        *,
        user: str = "me",
        mailbox_key: str | None = None,
    ) -> CalendarClient:
        if provider == "microsoft":
            from shared.providers.microsoft.calendar import GraphCalendarClient

            return GraphCalendarClient(self._settings, tokens, user=user, mailbox_key=mailbox_key)
        from shared.providers.google.calendar import GoogleCalendarClient

        return GoogleCalendarClient(
            self._settings, tokens, calendar_id="primary" if user == "me" else user
        )

    def room_directory(self, provider: str, *, tenant: str, tokens: TokenSource) -> CalendarClient:
        if provider == "microsoft":
            # Place.Read.All is an application permission: an app-only token for the tenant.
            from shared.providers.microsoft.calendar import GraphCalendarClient

            app = self.microsoft().app_auth(tenant)
            return GraphCalendarClient(self._settings, app.token_source(), app_only=True)
        return self.calendar("google", tokens)

    def admin_consent_url(self, *, tenant: str | None, redirect_uri: str, state: str) -> str:
        return self.microsoft().admin_consent_url(
            tenant=tenant, redirect_uri=redirect_uri, state=state
        )

    def parse_admin_consent(self, params: Mapping[str, str]) -> str:
        from shared.providers.microsoft.auth import MicrosoftDelegatedAuth

        tenant, granted = MicrosoftDelegatedAuth.parse_admin_consent(params)
        if not granted or not tenant:
            raise ConsentFailed(
                provider="microsoft",
                error="access_denied",
                error_description="the admin-consent redirect did not confirm consent",
            )
        return tenant
