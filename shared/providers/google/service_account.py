"""Service-account tokens with domain-wide delegation, for service (app-only) integrations.

A Workspace super admin grants the service account's client id a set of scopes
(Admin console > Security > API controls > Domain-wide delegation); the service then signs a JWT
assertion naming the mailbox owner as ``sub`` and exchanges it at the token endpoint
(https://developers.google.com/identity/protocols/oauth2/service-account#delegatingauthority).
When the delegation does not cover the requested scopes Google answers 401
``unauthorized_client``, which becomes ``ProviderDenied(provider_code="unauthorized_client")``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from shared.providers.google.auth import refresh_credentials
from shared.settings import Settings

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"


class GoogleServiceAccountAuth:
    """A :class:`~shared.providers.base.TokenSource` acting as ``subject`` through domain-wide
    delegation.

    ``service_account_info`` is the key file JSON (its ``token_uri`` is where assertions go).
    google-auth caches the token until shortly before expiry; ``force_refresh`` (after a 401)
    fetches a new one. Thread-safe; :meth:`for_subject` makes a source for another mailbox with
    the same key.
    """

    def __init__(
        self,
        settings: Settings,
        service_account_info: Mapping[str, Any],
        subject: str,
        *,
        scopes: Sequence[str] = (CALENDAR_SCOPE,),
    ) -> None:
        from google.oauth2 import service_account

        self._settings = settings
        self._info = dict(service_account_info)
        self._scopes = list(scopes)
        self.subject = subject
        factory: Any = service_account.Credentials.from_service_account_info
        self._credentials: Any = factory(self._info, scopes=self._scopes, subject=subject)
        self._lock = threading.Lock()

    def for_subject(
        self, subject: str, scopes: Sequence[str] | None = None
    ) -> GoogleServiceAccountAuth:
        """The same service account acting as another user (or a room's admin)."""
        return GoogleServiceAccountAuth(
            self._settings, self._info, subject, scopes=scopes or self._scopes
        )

    def __call__(self, *, force_refresh: bool = False) -> str:
        """A bearer token for ``subject``; ``ProviderDenied`` when the delegation is missing."""
        with self._lock:
            if force_refresh or not self._credentials.valid:
                refresh_credentials(
                    self._credentials, self._settings, reconnect_on_invalid_grant=False
                )
            return str(self._credentials.token)
