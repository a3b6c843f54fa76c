"""The notification outbox under storage faults and concurrent appends.

* A retry after a failure at any step of an append (refused, or applied with the answer lost)
  ends with exactly one notification for the fact.
* Ids become visible strictly in order: a reader that has seen id ``n`` can never miss an id
  below ``n`` committed later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.clock import ManualClock
from shared.consent.connect import mark_needs_reconnect
from shared.consent.connections import Connection, ConnectionStatus
from shared.consent.context import ConsentContext
from shared.errors import ReconnectNeeded, StorageUnavailable
from shared.notifications.outbox import NOTIFICATIONS, Notification, Outbox
from shared.providers.factory import SettingsProviderKit
from shared.secrets.memory_store import MemorySecretStore
from shared.settings import load_settings
from shared.storage.memory_tables import MemoryTableStore

ORG = "contoso/emea"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _append_until_done(outbox: Outbox, data: dict[str, str], key: str) -> None:
    """What every caller does: call again after a storage error (the queue's retry)."""
    for _ in range(10):
        try:
            outbox.append(ORG, "event_cancelled", data, dedupe_key=key)
            return
        except StorageUnavailable:
            continue
    raise AssertionError("the append never succeeded")


@pytest.mark.parametrize("applied", [False, True], ids=["refused", "answer-lost"])
def test_a_retried_append_reports_the_fact_exactly_once_whichever_call_failed(
    applied: bool,
) -> None:
    failed_at = 0
    while True:
        store = MemoryTableStore()
        outbox = Outbox(store, ManualClock(T0))
        outbox.append(ORG, "event_moved", {"n": "before"}, dedupe_key="earlier-fact")
        # Fail the storage call number ``failed_at`` of the append, then retry until done.
        store.faults.fail("*", "*", skip=failed_at, applied=applied)
        _append_until_done(outbox, {"app_event": "e1"}, "e1|ada")
        fired = store.faults.fired
        store.faults.clear()
        _append_until_done(outbox, {"app_event": "e1"}, "e1|ada")  # a later replay of it

        feed = outbox.after(ORG)
        assert [(n.kind, n.data) for n in feed] == [
            ("event_moved", {"n": "before"}),
            ("event_cancelled", {"app_event": "e1"}),
        ], f"failing call {failed_at}"
        assert [int(n.id) for n in feed] == [1, 2]
        if not fired:
            break  # the append made fewer calls than ``failed_at``: every step was covered
        failed_at += 1
    assert failed_at >= 3


def test_an_id_committed_late_cannot_be_passed_by_a_reader() -> None:
    """Append A is between taking its number and writing its row when append B completes and
    a reader reads: the reader must not see B's id without A's below it."""
    store = MemoryTableStore()
    outbox = Outbox(store, ManualClock(T0))
    for n in range(4):
        outbox.append(ORG, "event_moved", {"n": str(n)}, dedupe_key=f"f{n}")
    reader_saw: list[Notification] = []

    def meanwhile() -> None:
        outbox.append(ORG, "event_moved", {"n": "b"}, dedupe_key="fact-b")
        reader_saw.extend(outbox.after(ORG, f"{4:016d}"))

    store.faults.before("write", NOTIFICATIONS, meanwhile)
    outbox.append(ORG, "event_moved", {"n": "a"}, dedupe_key="fact-a")

    cursor = reader_saw[-1].id if reader_saw else f"{4:016d}"
    later = outbox.after(ORG, cursor)
    seen = [n.data["n"] for n in reader_saw + later]
    assert sorted(seen) == ["a", "b"], "a reader following the feed missed a notification"
    assert [int(n.id) for n in outbox.after(ORG)] == [1, 2, 3, 4, 5, 6]


def test_concurrent_appends_get_consecutive_ids_and_each_fact_once() -> None:
    import threading

    store = MemoryTableStore()
    outbox = Outbox(store, ManualClock(T0))

    def worker(n: int) -> None:
        for i in range(20):
            outbox.append(ORG, "event_moved", {"i": str(i)}, dedupe_key=f"fact-{i}")
            outbox.append(ORG, "person_declined", {"n": str(n), "i": str(i)}, dedupe_key=f"{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    feed = outbox.after(ORG, limit=1000)
    assert [int(n.id) for n in feed] == list(range(1, 20 + 80 + 1))
    assert sorted(n.data["i"] for n in feed if n.kind == "event_moved") == sorted(
        str(i) for i in range(20)
    )


def test_a_reconnect_whose_record_failed_is_told_once_when_noticed_again(tmp_path: Path) -> None:
    """The same loss elsewhere: the connection was marked before the host app was told, so a
    failure in between left it marked and untold for good. Telling comes first now, keyed by
    the episode, and a repeat after a failure at any step tells it exactly once."""
    settings = load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "none")})
    for failed_at in range(6):
        store = MemoryTableStore()
        ctx = ConsentContext(
            settings, store, MemorySecretStore(), ManualClock(T0), SettingsProviderKit(settings)
        )
        connection = ctx.connections.save(
            Connection(
                org=ORG, integration_id="int-1", subject="ada",
                status=ConnectionStatus.CONNECTED, account="ada@contoso.example", user_id="ada",
                tenant="t-1", scopes=frozenset({"Calendars.ReadWrite"}), connected_at=T0,
                updated_at=T0,
            )
        )  # fmt: skip
        store.faults.fail("write", "*", skip=failed_at, applied=failed_at % 2 == 1)
        for _ in range(3):  # the token source notices it again on the next run
            try:
                revoked = ReconnectNeeded("revoked", provider="microsoft")
                mark_needs_reconnect(ctx, connection, revoked)
            except StorageUnavailable:
                continue
        kinds = [n.kind for n in ctx.outbox.after(ORG)]
        assert kinds == ["reconnect_needed"], failed_at
        marked = ctx.connections.get(ORG, "int-1", "ada")
        assert marked is not None and marked.status is ConnectionStatus.NEEDS_RECONNECT
