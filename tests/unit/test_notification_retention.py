"""The notification feed: paging reads only what it returns, and old notifications are pruned.

Every scenario runs against the in-memory table store and against Azure Table storage on
Azurite, with a ManualClock to age notifications.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from shared.clock import ManualClock
from shared.notifications.outbox import (
    KEY_PREFIX,
    NOTIFICATIONS,
    SENT,
    SEQUENCE,
    Outbox,
    dedupe_row,
)
from shared.notifications.retention import NotificationRetention
from shared.secrets.memory_store import MemorySecretStore
from shared.services import Services, use_services
from shared.settings import load_settings
from shared.storage.azure_tables import AzureTableStore
from shared.storage.memory_tables import MemoryTableStore
from shared.storage.tables import MAX_BATCH, Entity, FieldValue, Op, TableStore

ORG = "contoso/emea"  # a slash: the partition key is the encoded org
OTHER = "fabrikam"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_prefixes = itertools.count()


@dataclass
class Recording:
    """A table store that records what its callers ask of the real one underneath."""

    inner: TableStore
    transactions: list[tuple[str, int]] = field(default_factory=list)
    single_deletes: int = 0
    rows_read: int = 0

    def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        return self.inner.get(table, partition_key, row_key)

    def insert(self, table: str, entity: Entity) -> Entity:
        return self.inner.insert(table, entity)

    def upsert(self, table: str, entity: Entity) -> Entity:
        return self.inner.upsert(table, entity)

    def update(self, table: str, entity: Entity) -> Entity:
        return self.inner.update(table, entity)

    def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> bool:
        self.single_deletes += 1
        return self.inner.delete(table, partition_key, row_key, etag)

    def query(
        self,
        table: str,
        partition_key: str | None = None,
        *,
        row_key_prefix: str | None = None,
        row_key_after: str | None = None,
        where: dict[str, FieldValue] | None = None,
    ) -> Iterator[Entity]:
        found = self.inner.query(
            table,
            partition_key,
            row_key_prefix=row_key_prefix,
            row_key_after=row_key_after,
            where=where,
        )
        for entity in found:
            self.rows_read += 1
            yield entity

    def transact(self, table: str, ops: Sequence[Op]) -> list[Entity]:
        self.transactions.append((table, len(ops)))
        return self.inner.transact(table, ops)

    def ping(self) -> None:
        self.inner.ping()


@pytest.fixture(params=["memory", "azure"])
def store(request: pytest.FixtureRequest) -> Iterator[TableStore]:
    if request.param == "memory":
        yield MemoryTableStore()
        return
    azurite: Azurite = request.getfixturevalue("azurite")
    # A fresh prefix per test: the outbox's table names are fixed, the tests must not meet.
    prefix = f"nr{next(_prefixes)}x{datetime.now(UTC).strftime('%H%M%S%f')}"
    azure = AzureTableStore.from_connection_string(azurite.connection_string, table_prefix=prefix)
    yield azure
    azure.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def _key_rows(store: TableStore) -> int:
    return sum(
        1
        for partition in ("contoso%2Femea", OTHER)
        for _ in store.query(NOTIFICATIONS, partition, row_key_prefix=KEY_PREFIX)
    )


def _ids(outbox: Outbox, org: str, after: str | None = None, limit: int = 500) -> list[int]:
    return [int(n.id) for n in outbox.after(org, after, limit)]


def test_a_poll_reads_only_the_page_it_returns(store: TableStore, clock: ManualClock) -> None:
    recording = Recording(store)
    outbox = Outbox(recording, clock)
    for n in range(120):
        outbox.append(ORG, "event_moved", {"n": n})
    recording.rows_read = 0

    page = outbox.after(ORG, f"{100:016d}", limit=15)
    assert [int(n.id) for n in page] == list(range(101, 116))
    assert [n.data["n"] for n in page] == list(range(100, 115))
    # The lower bound is applied by the store and reading stops at the limit: the 100 rows
    # before the cursor and the 5 after the page are never read.
    assert recording.rows_read == 15

    recording.rows_read = 0
    assert outbox.after(ORG, f"{120:016d}") == []
    assert recording.rows_read == 0
    assert _ids(outbox, ORG, limit=3) == [1, 2, 3]
    assert outbox.after(ORG, None, limit=0) == []


def test_a_cursor_longer_than_any_id_is_compared_not_rejected(
    store: TableStore, clock: ManualClock
) -> None:
    outbox = Outbox(store, clock)
    for n in range(3):
        outbox.append(ORG, "event_moved", {"n": n})
    assert _ids(outbox, ORG, "0" * 20_000) == [1, 2, 3]
    assert _ids(outbox, ORG, f"{2:016d}" + "0" * 20_000) == [3]
    assert _ids(outbox, ORG, "9" * 20_000) == []


def test_notifications_older_than_the_retention_are_pruned_and_newer_ones_survive(
    store: TableStore, clock: ManualClock
) -> None:
    outbox = Outbox(store, clock)
    for n in range(3):
        outbox.append(ORG, "event_moved", {"n": n})
    outbox.append(OTHER, "reconnect_needed", {"subject": "ada"})
    clock.advance(timedelta(days=20))
    outbox.append(ORG, "event_cancelled", {"n": 3})
    outbox.append(OTHER, "sync_failing", {"subject": "ada"})
    clock.advance(timedelta(days=9, hours=23))
    retention = NotificationRetention(store, clock, days=30)

    # 29 days and 23 hours: nothing is past the retention yet.
    assert retention.run().notifications_deleted == 0
    assert _ids(outbox, ORG) == [1, 2, 3, 4]

    clock.advance(timedelta(hours=2))
    report = retention.run()
    assert report.notifications_deleted == 4
    assert report.cutoff == clock.now() - timedelta(days=30)
    assert [(n.id, n.kind, n.data) for n in outbox.after(ORG)] == [
        (f"{4:016d}", "event_cancelled", {"n": 3})
    ]
    assert [(n.kind, n.data) for n in outbox.after(OTHER)] == [("sync_failing", {"subject": "ada"})]
    # A second run finds nothing more: the purge is idempotent.
    assert retention.run().notifications_deleted == 0


def test_paging_after_a_pruned_id_continues_with_what_is_left(
    store: TableStore, clock: ManualClock
) -> None:
    outbox = Outbox(store, clock)
    for n in range(3):
        outbox.append(ORG, "event_moved", {"n": n})
    seen = outbox.after(ORG, None, limit=1)[-1].id  # the host app read one, then went quiet
    clock.advance(timedelta(days=29))
    outbox.append(ORG, "event_moved", {"n": 3})
    outbox.append(ORG, "event_moved", {"n": 4})
    clock.advance(timedelta(days=2))

    assert NotificationRetention(store, clock, days=30).run().notifications_deleted == 3
    assert store.get(NOTIFICATIONS, "contoso%2Femea", seen) is None

    # Its cursor points at a pruned notification: the next page is what is left, in order.
    assert _ids(outbox, ORG, seen) == [4, 5]
    # Ids are never reused: the counter carries on after the pruned ones.
    appended = outbox.append(ORG, "room_declined", {"room": "aurora"})
    assert appended is not None
    assert int(appended.id) == 6
    assert _ids(outbox, ORG, seen) == [4, 5, 6]
    assert _ids(outbox, ORG, f"{5:016d}") == [6]


def test_dedupe_keys_share_the_retention_and_recent_keys_still_dedupe(
    store: TableStore, clock: ManualClock
) -> None:
    outbox = Outbox(store, clock)
    assert outbox.append(ORG, "person_declined", {"who": "ada"}, dedupe_key="evt-1|ada")
    assert outbox.append(OTHER, "person_declined", {"who": "bob"}, dedupe_key="evt-9|bob")
    clock.advance(timedelta(days=25))
    assert outbox.append(ORG, "person_declined", {"who": "cy"}, dedupe_key="evt-2|cy")
    clock.advance(timedelta(days=6))

    report = NotificationRetention(store, clock, days=30).run()
    assert (report.notifications_deleted, report.dedupe_keys_deleted) == (2, 2)
    assert _key_rows(store) == 1

    # The recent fact is still known: a replay of it is not reported twice.
    assert outbox.append(ORG, "person_declined", {"who": "cy"}, dedupe_key="evt-2|cy") is None
    # The expired fact went with its notification: seen again, it is a new notification.
    again = outbox.append(ORG, "person_declined", {"who": "ada"}, dedupe_key="evt-1|ada")
    assert again is not None
    assert _ids(outbox, ORG) == [2, 3]
    assert outbox.append(ORG, "person_declined", {"who": "ada"}, dedupe_key="evt-1|ada") is None


def test_old_rows_are_deleted_in_batches_of_at_most_one_transaction_per_hundred(
    store: TableStore, clock: ManualClock
) -> None:
    outbox = Outbox(store, clock)
    for n in range(210):
        outbox.append(ORG, "event_moved", {"n": n}, dedupe_key=f"evt-{n}")
    for n in range(5):
        outbox.append(OTHER, "event_moved", {"n": n}, dedupe_key=f"evt-{n}")
    clock.advance(timedelta(days=31))
    survivor = outbox.append(ORG, "event_moved", {"n": 210}, dedupe_key="evt-210")
    assert survivor is not None
    recording = Recording(store)

    report = NotificationRetention(recording, clock, days=30).run()

    assert (report.notifications_deleted, report.dedupe_keys_deleted) == (215, 215)
    assert recording.single_deletes == 0
    expected = [(NOTIFICATIONS, size) for _ in ("feed", "keys") for size in (100, 100, 10, 5)]
    assert sorted(recording.transactions) == sorted(expected)
    assert all(size <= MAX_BATCH for _, size in recording.transactions)
    assert [n.id for n in outbox.after(ORG)] == [survivor.id]
    assert outbox.after(OTHER) == []
    assert _key_rows(store) == 1
    # The feed walk stops at the first young notification instead of reading the partition.
    recording.rows_read = 0
    NotificationRetention(recording, clock, days=30).run()
    assert recording.rows_read <= 2 + 1 + 1  # two counters, the survivor, its key


def test_the_hourly_maintenance_timer_prunes_the_feed(
    store: TableStore, clock: ManualClock, tmp_path: Path
) -> None:
    from devhost.host import DevHost

    settings = load_settings(
        {"LOCAL_SETTINGS_FILE": str(tmp_path / "none"), "NOTIFICATION_RETENTION_DAYS": "7"}
    )
    assert settings.notification_retention_days == 7
    outbox = Outbox(store, clock)
    outbox.append(ORG, "integration_disabled", {"integration": "i-1"}, dedupe_key="i-1")
    clock.advance(timedelta(days=6))
    outbox.append(ORG, "reconnect_needed", {"subject": "ada"}, dedupe_key="ada")
    clock.advance(timedelta(days=1, minutes=1))
    use_services(Services(settings, tables=store, secrets=MemorySecretStore(), clock=clock))
    try:
        DevHost("function_app:app").invoke("consent_purge")
    finally:
        use_services(None)
    assert [n.kind for n in outbox.after(ORG)] == ["reconnect_needed"]
    assert _key_rows(store) == 1


def test_a_feed_written_before_the_one_transaction_layout_carries_on(
    store: TableStore, clock: ManualClock
) -> None:
    """Counter and keys of the former layout: ids continue after its last one, its keys still
    de-duplicate, and the retention removes them when they expire."""
    store.insert(SEQUENCE, Entity("contoso%2Femea", "", {"last": 7}))
    legacy_key = dedupe_row("event_cancelled", "evt-1|ada").removeprefix(KEY_PREFIX)
    store.insert(SENT, Entity("contoso%2Femea", legacy_key, {"at": clock.now()}))
    store.insert(
        NOTIFICATIONS,
        Entity(
            "contoso%2Femea",
            f"{7:016d}",
            {"org": ORG, "kind": "event_cancelled", "at": clock.now(), "data": "{}"},
        ),
    )
    outbox = Outbox(store, clock)

    assert outbox.append(ORG, "event_cancelled", {}, dedupe_key="evt-1|ada") is None
    fresh = outbox.append(ORG, "event_moved", {}, dedupe_key="evt-2|ada")
    assert fresh is not None
    assert fresh.id == f"{8:016d}"
    assert _ids(outbox, ORG) == [7, 8]

    clock.advance(timedelta(days=31))
    report = NotificationRetention(store, clock, days=30).run()
    assert (report.notifications_deleted, report.dedupe_keys_deleted) == (2, 2)
    assert list(store.query(SENT)) == []
    assert outbox.append(ORG, "event_cancelled", {}, dedupe_key="evt-1|ada") is not None


def test_a_retention_under_one_day_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        NotificationRetention(MemoryTableStore(), ManualClock(START), days=0)
