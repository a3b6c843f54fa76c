"""Pending-sync requests: duplicate notifications make one run, and a run that meets another
worker's lease waits for the holder to hand over instead of polling."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.clock import ManualClock
from shared.storage.memory_tables import MemoryTableStore
from shared.sync import requests

CAL = "int-1:ana"


def test_duplicate_notifications_ask_for_one_run_until_the_worker_starts() -> None:
    tables, clock = MemoryTableStore(), ManualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert requests.request_sync(tables, clock, CAL, "graph") is True
    assert requests.request_sync(tables, clock, CAL, "graph") is False
    requests.clear(tables, CAL)  # the worker starts
    assert requests.request_sync(tables, clock, CAL, "graph") is True


def test_a_run_that_meets_the_lease_is_handed_over_with_the_strongest_action() -> None:
    tables, clock = MemoryTableStore(), ManualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert requests.waiting(tables, CAL) == (False, None)

    assert requests.wait_for_lease(tables, clock, CAL, "recreate") is True
    # Later runs meet the lease too: one hand-over covers them all, and a plain run or a
    # renewal does not weaken the subscription's recreation that one of them carried.
    assert requests.wait_for_lease(tables, clock, CAL, None) is False
    assert requests.wait_for_lease(tables, clock, CAL, "renew") is False
    assert requests.waiting(tables, CAL) == (True, "recreate")
    # Notifications meanwhile enqueue nothing more: the hand-over's run will see their changes.
    assert requests.request_sync(tables, clock, CAL, "graph") is False

    requests.clear(tables, CAL)  # the handed-over run starts
    assert requests.waiting(tables, CAL) == (False, None)


def test_a_notification_pending_when_a_run_meets_the_lease_becomes_a_waiting_run() -> None:
    # The notification's own message may be the run that met the lease: the holder must then
    # hand over, or the change would wait for the next cycle.
    tables, clock = MemoryTableStore(), ManualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert requests.request_sync(tables, clock, CAL, "google") is True
    assert requests.waiting(tables, CAL) == (False, None)  # its message is on its way

    assert requests.wait_for_lease(tables, clock, CAL, "renew") is True
    assert requests.waiting(tables, CAL) == (True, "renew")
