"""Failures on command in the in-memory stores: refused before the write, or applied with the
answer lost, and nothing else changes (the contract tests also run with faults armed elsewhere)."""

from __future__ import annotations

import pytest

from shared.errors import StorageUnavailable
from shared.storage.memory_queues import MemoryQueueSender
from shared.storage.memory_tables import MemoryTableStore
from shared.storage.tables import Entity, Op


def test_a_refused_write_leaves_nothing_and_the_next_call_succeeds() -> None:
    store = MemoryTableStore()
    store.faults.fail("insert", "things")
    with pytest.raises(StorageUnavailable):
        store.insert("things", Entity("p", "r", {"v": 1}))
    assert store.get("things", "p", "r") is None
    store.insert("things", Entity("p", "r", {"v": 1}))
    assert store.faults.fired == 1
    assert not store.faults.armed


def test_an_applied_write_with_a_lost_answer_is_stored() -> None:
    store = MemoryTableStore()
    store.faults.fail("transact", "things", applied=True)
    ops = [Op("insert", Entity("p", "a", {})), Op("insert", Entity("p", "b", {}))]
    with pytest.raises(StorageUnavailable):
        store.transact("things", ops)
    assert [e.row_key for e in store.query("things", "p")] == ["a", "b"]


def test_skip_lets_calls_pass_and_writes_match_every_write_kind() -> None:
    store = MemoryTableStore()
    store.faults.fail("write", "things", skip=2, times=2)
    store.insert("things", Entity("p", "a", {}))
    store.upsert("things", Entity("p", "b", {}))
    with pytest.raises(StorageUnavailable):
        store.delete("things", "p", "a")
    with pytest.raises(StorageUnavailable):
        store.insert("things", Entity("p", "c", {}))
    assert store.get("things", "p", "a") is not None  # reads are not writes: no fault
    store.insert("things", Entity("p", "c", {}))
    assert store.faults.fired == 2


def test_reads_fail_on_command_and_other_tables_are_untouched() -> None:
    store = MemoryTableStore()
    store.insert("things", Entity("p", "a", {}))
    store.faults.fail("query", "things")
    assert store.get("things", "p", "a") is not None
    assert list(store.query("others")) == []
    with pytest.raises(StorageUnavailable):
        store.query("things")
    assert len(list(store.query("things"))) == 1


def test_a_hook_runs_once_just_before_the_matching_call() -> None:
    store = MemoryTableStore()
    seen: list[bool] = []
    store.faults.before(
        "write", "things", lambda: seen.append(store.get("things", "p", "a") is None)
    )
    store.insert("things", Entity("p", "a", {}))
    store.insert("things", Entity("p", "b", {}))
    assert seen == [True]


def test_queue_sends_fail_before_or_after_the_message_is_stored() -> None:
    sender = MemoryQueueSender(clock=lambda: 0.0)
    sender.faults.fail("send", "work")
    with pytest.raises(StorageUnavailable):
        sender.send("work", {"n": 1})
    sender.faults.fail("send", "work", applied=True)
    with pytest.raises(StorageUnavailable):
        sender.send("work", {"n": 2})
    assert [m.body for m in sender.take("work")] == [{"n": 2}]
