"""Calendar leases on the in-memory table store: one worker at a time, expiry takeover."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from shared.clock import ManualClock
from shared.storage.memory_tables import MemoryTableStore
from shared.storage.tables import Entity, TableStore
from shared.sync.leases import DEFAULT_TTL, LEASE_ROW, LEASES, Leases

KEY = "int-1:person-a"


def test_two_workers_one_calendar_only_the_first_gets_the_lease() -> None:
    clock = ManualClock()
    leases = Leases(MemoryTableStore(), clock)

    first = leases.acquire(KEY, "worker-1")
    second = leases.acquire(KEY, "worker-2")

    assert first is not None and first.holder == "worker-1"
    assert first.expires_at == clock.now() + DEFAULT_TTL
    assert second is None


def test_after_release_another_worker_takes_the_lease() -> None:
    leases = Leases(MemoryTableStore(), ManualClock())
    first = leases.acquire(KEY, "worker-1")
    assert first is not None

    assert leases.release(first) is True
    assert leases.acquire(KEY, "worker-2") is not None


def test_a_killed_workers_lease_expires_and_is_taken_over() -> None:
    clock = ManualClock()
    leases = Leases(MemoryTableStore(), clock)
    dead = leases.acquire(KEY, "worker-killed", ttl=timedelta(minutes=10))
    assert dead is not None

    clock.advance(timedelta(minutes=9, seconds=59))
    assert leases.acquire(KEY, "worker-2") is None
    clock.advance(timedelta(seconds=2))
    taken = leases.acquire(KEY, "worker-2")

    assert taken is not None and taken.holder == "worker-2"
    # The dead worker waking up cannot release (or otherwise disturb) the new holder's lease.
    assert leases.release(dead) is False
    assert leases.holder(KEY) == ("worker-2", taken.expires_at)


def test_of_two_workers_racing_for_an_expired_lease_one_wins() -> None:
    clock = ManualClock()
    tables = MemoryTableStore()
    leases = Leases(tables, clock)
    assert leases.acquire(KEY, "worker-killed", ttl=timedelta(seconds=1)) is not None
    clock.advance(timedelta(seconds=5))
    # Both read the expired lease; the second write carries a stale ETag.
    stale = tables.get(LEASES, KEY, LEASE_ROW)
    winner = leases.acquire(KEY, "worker-a")
    assert winner is not None and stale is not None
    loser_tables = cast(TableStore, _FrozenRead(tables, stale))
    assert Leases(loser_tables, clock).acquire(KEY, "worker-b") is None
    assert leases.holder(KEY) == ("worker-a", winner.expires_at)


def test_a_holder_asking_again_renews_its_own_lease() -> None:
    clock = ManualClock()
    leases = Leases(MemoryTableStore(), clock)
    first = leases.acquire(KEY, "worker-1")
    clock.advance(timedelta(minutes=5))
    again = leases.acquire(KEY, "worker-1")
    assert first is not None and again is not None
    assert again.expires_at == clock.now() + DEFAULT_TTL
    assert leases.release(first) is False  # the old ETag is no longer the lease
    assert leases.release(again) is True


class _FrozenRead:
    """Another implementation of the store for a slower worker: its read of the lease returns
    what it saw before the other worker's write; writes go to the shared store."""

    def __init__(self, inner: MemoryTableStore, seen: Entity) -> None:
        self._inner = inner
        self._seen = seen

    def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        return self._seen

    def insert(self, table: str, entity: Entity) -> Entity:
        return self._inner.insert(table, entity)

    def update(self, table: str, entity: Entity) -> Entity:
        return self._inner.update(table, entity)

    def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> bool:
        return self._inner.delete(table, partition_key, row_key, etag)


def test_a_renewed_lease_outlives_its_first_term_and_a_taken_over_one_cannot_be_renewed() -> None:
    clock = ManualClock()
    leases = Leases(MemoryTableStore(), clock)
    lease = leases.acquire(KEY, "worker-1", ttl=timedelta(minutes=1))
    assert lease is not None
    for _ in range(3):
        clock.advance(timedelta(seconds=50))
        renewed = leases.renew(lease, ttl=timedelta(minutes=1))
        assert renewed is not None and renewed.expires_at == clock.now() + timedelta(minutes=1)
        assert leases.acquire(KEY, "worker-2") is None
        lease = renewed

    clock.advance(timedelta(minutes=2))  # stalled past its term: another worker takes over
    assert leases.acquire(KEY, "worker-2") is not None
    assert leases.renew(lease) is None
    assert leases.release(lease) is False
