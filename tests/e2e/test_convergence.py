"""Convergence: the sync engine ends in exactly the calendars, notifications and availability
its rules promise (docs/sync-design.md), even when a worker is killed in the middle of a sync.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from shared.http.flows import sync_context
from shared.storage.keys import decode_key
from shared.sync.busy import BUSY
from shared.sync.cursors import CursorStore
from shared.sync.leases import DEFAULT_TTL, Leases
from shared.sync.mappings import PushQueue, person_partition
from shared.sync.worker import SyncMessage, sync_calendar
from tests.e2e.conftest import Stack
from tests.e2e.convergence_support import (
    CalendarEvent,
    Person,
    app_ref,
    calendar_events,
    create_foreign,
    day_start,
    feed,
    kill_when,
    spawn_worker,
)
from tests.e2e.sync_support import (
    connect_microsoft,
    microsoft_workspace,
    new_person_id,
    put_event,
    put_people,
)
from tests.e2e.test_workspace_lifecycle import all_entities, mentions

# --- a worker killed mid-sync ------------------------------------------------------------------

PENDING_EVENTS = 6
FOREIGN_EVENTS = 150  # with our 6: two pages of calendarView/delta at 100 per page


def test_a_worker_killed_mid_sync_twice_and_run_again_converges(stack: Stack, org: str) -> None:
    workspace = microsoft_workspace(stack, org, users=1)
    email, person_id = workspace.tenant.users[0], new_person_id()
    person = Person(org, workspace.integration, person_id, email, "microsoft")
    put_people(stack, org, [(person_id, "Pat", email)])
    # Host-app events assigned before the person connects wait for their first sync.
    start = day_start(2) + timedelta(hours=9)
    shifts = {f"shift-{n}": start + timedelta(days=n) for n in range(PENDING_EVENTS)}
    for app_event, at in shifts.items():
        answer = put_event(stack, org, app_event, people=[person_id], start=at, subject=app_event)
        assert answer.json()["people"][0]["status"] == "no_calendar", answer.text
    leases = Leases(stack.services.tables, stack.clock)
    # Taken before the connection exists: neither the 5-minute timer nor anything else of the
    # local host can sync this calendar before the worker that is going to die.
    assert leases.acquire(person.calendar, "worker-1") is not None
    connect_microsoft(stack, org, person_id, email)
    secret = f"Confidential-{secrets.token_hex(4)}"
    foreign = {
        create_foreign(stack, person, f"{secret} {n}", *_hour(start, n))
        for n in range(FOREIGN_EVENTS)
    }
    # Every Graph request of the tenant takes a while, so the worker is caught in the middle.
    stack.sim.add_fault_rule(tenant=workspace.tenant.tenant_id, area="graph", latency_ms=120)
    try:
        # 1: killed right after the first event landed in the calendar (its mapping row may
        # or may not be written: the retry's transactionId answers with the same event).
        child = spawn_worker(stack, org, person.calendar, "worker-1")
        kill_when(child, lambda: _ours(stack, person) != [], timeout=60)
        assert leases.holder(person.calendar) is not None
        assert _pending(stack, person) > 0, "nothing was left to push: the kill came too late"

        # 2: the lease of the dead worker expires; the next one dies after saving the first
        # page's cursor of the full listing.
        stack.clock.advance(DEFAULT_TTL + timedelta(seconds=1))
        assert leases.acquire(person.calendar, "worker-2") is not None
        child = spawn_worker(stack, org, person.calendar, "worker-2")
        kill_when(child, lambda: _mid_listing(stack, person), timeout=60)
        assert len(_busy(stack, person)) < FOREIGN_EVENTS

        # 3: a worker run after that lease expired converges.
        stack.clock.advance(DEFAULT_TTL + timedelta(seconds=1))
        assert leases.acquire(person.calendar, "worker-3") is not None
        outcome = sync_calendar(
            sync_context(stack.services), SyncMessage(org, person.calendar), holder="worker-3"
        )
    finally:
        stack.sim.clear_faults()
    assert outcome.status == "synced", outcome
    stack.host.wait_until_idle(timeout=60)

    ours = _ours(stack, person)
    assert sorted(str(e.app_ref) for e in ours) == sorted(app_ref(org, a) for a in shifts)
    assert {(e.subject, e.start) for e in ours} == {(a, at) for a, at in shifts.items()}
    assert set(_busy(stack, person)) == foreign
    assert _pending(stack, person) == 0 and leases.holder(person.calendar) is None
    state = CursorStore(stack.services.tables).get(person.calendar)
    assert state is not None and state.complete
    # Nothing happened in the calendar that the host app must hear about: replays of a page
    # invented no move or cancellation.
    assert feed(stack, org) == []
    assert mentions(all_entities(stack), secret) == []


def _hour(day: datetime, n: int) -> tuple[datetime, datetime]:
    begin = day + timedelta(days=n % 40, hours=n // 40)
    return begin - timedelta(hours=6), begin - timedelta(hours=5, minutes=30)


def _ours(stack: Stack, person: Person) -> list[CalendarEvent]:
    return [e for e in calendar_events(stack, person) if e.app_ref is not None]


def _pending(stack: Stack, person: Person) -> int:
    queue = PushQueue(stack.services.tables)
    partitions = (person.calendar, person_partition(person.org, person.id))
    return sum(len(queue.markers(p)) for p in partitions)


def _busy(stack: Stack, person: Person) -> list[str]:
    return [decode_key(e.row_key) for e in stack.services.tables.query(BUSY, person.calendar)]


def _mid_listing(stack: Stack, person: Person) -> bool:
    state = CursorStore(stack.services.tables).get(person.calendar)
    return state is not None and state.cursor is not None and not state.complete
