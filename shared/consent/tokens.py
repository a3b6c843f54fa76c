"""Token sources over stored token blobs: refresh when needed, persist only what rotated.

A :class:`StoredTokens` is the :class:`~shared.providers.base.TokenSource` of one stored blob
(a user's connection, or the enabling admin's test-flow grant). It keeps the access token in
memory for the life of the object, asks the provider adapter for a fresh one when it expires or
after a 401, writes the blob back only when the adapter says it changed (msal's rotated refresh
token), and reports a revoked or expired refresh token through ``on_reconnect`` before raising
``ReconnectNeeded``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from shared.clock import Clock
from shared.errors import ReconnectNeeded
from shared.providers.base import AccessToken, DelegatedAuth
from shared.secrets.store import SecretStore

# Refresh a little before expiry so a token does not lapse mid-request.
_EARLY = timedelta(minutes=2)


class StoredTokens:
    def __init__(
        self,
        auth: DelegatedAuth,
        secrets: SecretStore,
        secret_name: str,
        clock: Clock,
        *,
        scopes: Sequence[str] | None = None,
        on_reconnect: Callable[[ReconnectNeeded], None] | None = None,
    ) -> None:
        self._auth = auth
        self._secrets = secrets
        self._name = secret_name
        self._clock = clock
        self._scopes = scopes
        self._on_reconnect = on_reconnect
        self._current: AccessToken | None = None

    def __call__(self, *, force_refresh: bool = False) -> str:
        now = self._clock.now()
        if (
            not force_refresh
            and self._current is not None
            and self._current.expires_at - _EARLY > now
        ):
            return self._current.token
        blob = self._secrets.get(self._name)
        try:
            if blob is None:
                raise ReconnectNeeded(
                    "no stored tokens for this connection",
                    provider=self._auth.provider,
                    provider_code="revoked_token",
                )
            token = self._auth.access_token(blob, self._scopes, force_refresh=force_refresh)
        except ReconnectNeeded as exc:
            if self._on_reconnect is not None:
                self._on_reconnect(exc)
            raise
        if token.updated_blob is not None:
            self._secrets.set(self._name, token.updated_blob)
        self._current = token
        return token.token
