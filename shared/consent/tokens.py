"""Token sources over stored token blobs: refresh when needed, persist only what rotated.

A :class:`StoredTokens` is the :class:`~shared.providers.base.TokenSource` of one stored blob
(a user's connection, or the enabling admin's test-flow grant). Access tokens are kept in memory
per process and secret store until two minutes before they expire (:class:`_AccessTokens`), so a
sync of a calendar whose token is still valid reads nothing from Key Vault; the blob is read
when a token must be refreshed or none is known. It asks the provider adapter for a fresh one
when it expires or after a 401, writes the blob back only when the adapter says it changed
(msal's rotated refresh token), and reports a revoked or expired refresh token through
``on_reconnect`` before raising ``ReconnectNeeded``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from shared.clock import Clock
from shared.errors import ReconnectNeeded
from shared.providers.base import AccessToken, DelegatedAuth
from shared.secrets.store import SecretStore

# Refresh a little before expiry so a token does not lapse mid-request.
_EARLY = timedelta(minutes=2)


class _AccessTokens:
    """Access tokens by (secret store, blob name, scopes), for the life of the process.

    Keyed by the store object too, so two stores in one process (tests, a second deployment's
    settings) never share a token. Only access tokens are kept, never a refresh token or blob;
    an entry is dropped when its connection needs reconnecting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_store: weakref.WeakKeyDictionary[
            SecretStore, dict[tuple[str, tuple[str, ...] | None], AccessToken]
        ] = weakref.WeakKeyDictionary()

    def get(
        self, store: SecretStore, name: str, scopes: tuple[str, ...] | None, now: datetime
    ) -> AccessToken | None:
        with self._lock:
            token = self._by_store.get(store, {}).get((name, scopes))
        return token if token is not None and token.expires_at - _EARLY > now else None

    def put(
        self, store: SecretStore, name: str, scopes: tuple[str, ...] | None, token: AccessToken
    ) -> None:
        with self._lock:
            self._by_store.setdefault(store, {})[(name, scopes)] = AccessToken(
                token.token, token.expires_at
            )

    def forget(self, store: SecretStore, name: str) -> None:
        with self._lock:
            tokens = self._by_store.get(store, {})
            for key in [k for k in tokens if k[0] == name]:
                del tokens[key]


_ACCESS_TOKENS = _AccessTokens()


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
        scopes = tuple(self._scopes) if self._scopes is not None else None
        if not force_refresh:
            if self._current is not None and self._current.expires_at - _EARLY > now:
                return self._current.token
            known = _ACCESS_TOKENS.get(self._secrets, self._name, scopes, now)
            if known is not None:
                self._current = known
                return known.token
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
            _ACCESS_TOKENS.forget(self._secrets, self._name)
            if self._on_reconnect is not None:
                self._on_reconnect(exc)
            raise
        if token.updated_blob is not None:
            self._secrets.set(self._name, token.updated_blob)
        self._current = token
        _ACCESS_TOKENS.put(self._secrets, self._name, scopes, token)
        return token.token
