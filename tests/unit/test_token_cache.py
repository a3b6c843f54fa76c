"""Access tokens stay in memory per process: a sync whose token is valid reads no secret."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.clock import ManualClock
from shared.consent.tokens import StoredTokens
from shared.errors import ReconnectNeeded
from shared.providers.base import AccessToken, AuthStart, Grant
from shared.secrets.memory_store import MemorySecretStore

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class CountingStore:
    """A secret store that counts reads (another implementation over the in-memory one)."""

    def __init__(self) -> None:
        self.inner = MemorySecretStore()
        self.reads = 0

    def get(self, name: str) -> str | None:
        self.reads += 1
        return self.inner.get(name)

    def set(self, name: str, value: str) -> None:
        self.inner.set(name, value)

    def delete(self, name: str) -> bool:
        return self.inner.delete(name)

    def names(self, prefix: str = "") -> Iterator[str]:
        return self.inner.names(prefix)

    def ping(self) -> None:
        self.inner.ping()


class HourTokens:
    """Delegated auth handing out one-hour access tokens; ``revoked`` refuses the blob."""

    provider = "microsoft"

    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.issued, self.revoked = clock, 0, False

    def begin(self, **_: Any) -> AuthStart:
        raise NotImplementedError

    def complete(self, flow: Mapping[str, Any], params: Mapping[str, str]) -> Grant:
        raise NotImplementedError

    def access_token(
        self, token_blob: str, scopes: Sequence[str] | None = None, *, force_refresh: bool = False
    ) -> AccessToken:
        if self.revoked:
            raise ReconnectNeeded("revoked", provider="microsoft", provider_code="invalid_grant")
        self.issued += 1
        return AccessToken(f"at-{self.issued}", self.clock.now() + timedelta(hours=1))

    def revoke(self, token_blob: str) -> None:
        return None


def test_a_valid_access_token_is_reused_by_later_syncs_without_a_secret_read() -> None:
    clock, store = ManualClock(T0), CountingStore()
    auth = HourTokens(clock)
    store.set("conn-ana", "blob")

    first = StoredTokens(auth, store, "conn-ana", clock)()
    later = [StoredTokens(auth, store, "conn-ana", clock)() for _ in range(5)]

    assert later == [first] * 5 and store.reads == 1 and auth.issued == 1
    clock.advance(timedelta(minutes=59))  # within two minutes of its expiry: refreshed
    assert StoredTokens(auth, store, "conn-ana", clock)() != first
    assert store.reads == 2
    # Another store (another deployment, another test) never sees this one's tokens.
    other = CountingStore()
    other.set("conn-ana", "blob")
    StoredTokens(auth, other, "conn-ana", clock)()
    assert other.reads == 1


def test_a_forced_refresh_reads_the_blob_and_a_revoked_one_forgets_the_token() -> None:
    clock, store = ManualClock(T0), CountingStore()
    auth = HourTokens(clock)
    store.set("conn-bob", "blob")
    StoredTokens(auth, store, "conn-bob", clock)()

    StoredTokens(auth, store, "conn-bob", clock)(force_refresh=True)
    assert store.reads == 2
    auth.revoked = True
    with pytest.raises(ReconnectNeeded):
        StoredTokens(auth, store, "conn-bob", clock)(force_refresh=True)
    with pytest.raises(ReconnectNeeded):  # nothing cached is handed out any more
        StoredTokens(auth, store, "conn-bob", clock)()
