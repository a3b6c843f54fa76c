"""Races between the host app's real-time push (which takes no lease) and a worker of the same
calendar, found by the convergence run under faults (tests/e2e/test_convergence_under_faults.py)
and reproduced here deterministically: a calendar client that lets the other party act at the
exact moment between a provider call and its answer.

The client is another implementation of ``CalendarClient`` wrapping the in-memory twin, not a
patch of the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.clock import ManualClock
from shared.errors import ProviderUnavailable, Throttled
from shared.notifications.outbox import Outbox
from shared.providers.base import (
    CalendarClient,
    ChangePage,
    EventDraft,
    EventView,
    WrittenEvent,
)
from shared.storage.memory_tables import MemoryTableStore
from shared.sync.appevents import EventContent
from shared.sync.mappings import RefState
from shared.sync.pull import pull_calendar
from shared.sync.pull_judge import EVENTREFS
from shared.sync.push import push_calendar
from tests.unit.test_push_planner import EVENT, ORG, T0, Dedupe, Scenario, email


class Interleaved:
    """A ``CalendarClient`` that runs a hook once, right after the provider answered
    ``get_event`` / right before ``create_event``, ``update_event``, ``delete_event`` or
    ``changes`` reaches it."""

    def __init__(self, inner: CalendarClient) -> None:
        self.inner = inner
        self.on_get: Callable[[], None] | None = None
        self.on_create: Callable[[], None] | None = None
        self.on_update: Callable[[], None] | None = None
        self.on_changes: Callable[[], None] | None = None
        self.on_delete: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_event(self, event_id: str) -> EventView | None:
        answer = self.inner.get_event(event_id)
        hook, self.on_get = self.on_get, None
        if hook is not None:
            hook()
        return answer

    def create_event(self, draft: EventDraft) -> WrittenEvent:
        hook, self.on_create = self.on_create, None
        if hook is not None:
            hook()
        return self.inner.create_event(draft)

    def update_event(
        self, event_id: str, draft: EventDraft, *, if_match: str | None = None
    ) -> WrittenEvent:
        hook, self.on_update = self.on_update, None
        if hook is not None:
            hook()
        return self.inner.update_event(event_id, draft, if_match=if_match)

    def delete_event(self, event_id: str) -> None:
        hook, self.on_delete = self.on_delete, None
        if hook is not None:
            hook()
        self.inner.delete_event(event_id)

    def changes(
        self, cursor: str | None, window_start: datetime, window_end: datetime, page_size: int = 100
    ) -> ChangePage:
        hook, self.on_changes = self.on_changes, None
        if hook is not None:
            hook()
        return self.inner.changes(cursor, window_start, window_end, page_size)


def _put(scenario: Scenario, hour: int, people: set[str]) -> None:
    content = EventContent(
        "Shift", T0 + timedelta(hours=hour), T0 + timedelta(hours=hour + 1), tuple(people)
    )
    scenario.host_writes(scenario.events.put(ORG, EVENT, content, T0).changed)


def _feed(scenario: Scenario) -> list[str]:
    consent = scenario.sctx.consent
    return [n.kind for n in Outbox(consent.tables, consent.clock).after(ORG)]


def test_a_pull_reading_our_event_just_before_the_host_app_moves_it_reports_no_move(
    tmp_path: Path,
) -> None:
    scenario = Scenario("graph", tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana})
    push_calendar(scenario.sctx, ref, scenario.clients[ana])
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    (ours,) = scenario.live(ana)
    # Ana renames it (not a move): the next page shows our event with a new change key, so
    # the pull reads it afresh; the host app moves it right after that read was answered.
    scenario.backend.person_edits(email(ana), ours.id, subject="Shift (Ana's note)")
    client = Interleaved(scenario.clients[ana])

    def host_app_moves_it() -> None:
        _put(scenario, 3, {ana})
        push_calendar(scenario.sctx, ref, scenario.clients[ana])

    client.on_get = host_app_moves_it
    pull_calendar(scenario.sctx, ref, client)  # type: ignore[arg-type]

    (moved,) = scenario.live(ana)
    assert moved.start == T0 + timedelta(hours=3)
    assert _feed(scenario) == []  # the old time was the host app's, not a move by Ana


def test_a_create_landing_after_the_host_app_cancelled_and_reclaimed_leaves_no_orphan(
    tmp_path: Path,
) -> None:
    # Graph's transactionId answers a new event once the first one was deleted.
    scenario = Scenario("graph", tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana})
    worker_client = Interleaved(scenario.clients[ana])

    def host_app_cancels_it() -> None:
        # The worker's create is in flight; the host app cancels and pushes in real time,
        # reclaiming whatever the worker's key may have created.
        scenario.host_writes(scenario.events.cancel(ORG, EVENT, T0).changed)
        push_calendar(scenario.sctx, ref, scenario.clients[ana])

    worker_client.on_create = host_app_cancels_it
    push_calendar(scenario.sctx, ref, worker_client)  # type: ignore[arg-type]

    assert scenario.live(ana) == []
    assert scenario.queue.markers(ref.key) == []
    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and not mapping.live


def test_a_stale_update_does_not_overwrite_a_move_made_after_the_same_version_was_written(
    tmp_path: Path,
) -> None:
    scenario = Scenario("graph", tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana})
    push_calendar(scenario.sctx, ref, scenario.clients[ana])
    _put(scenario, 1, {ana})
    worker_client = Interleaved(scenario.clients[ana])
    moved_to = T0 + timedelta(hours=7)

    def pushed_in_real_time_then_moved_by_ana() -> None:
        # While the worker's update of version 2 is in flight, the real-time push writes
        # version 2; Ana then moves the event: a change made after the host app's last one.
        push_calendar(scenario.sctx, ref, scenario.clients[ana])
        (ours,) = scenario.live(ana)
        scenario.backend.person_edits(
            email(ana), ours.id, start=moved_to, end=moved_to + timedelta(hours=1)
        )

    worker_client.on_update = pushed_in_real_time_then_moved_by_ana
    push_calendar(scenario.sctx, ref, worker_client)  # type: ignore[arg-type]

    (ours,) = scenario.live(ana)
    assert ours.start == moved_to  # respected, as the pull path will report it
    assert scenario.queue.markers(ref.key) == []


def test_an_update_that_loses_the_race_after_its_re_read_is_reported_for_a_quick_rerun(
    tmp_path: Path,
) -> None:
    scenario = Scenario("graph", tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana})
    push_calendar(scenario.sctx, ref, scenario.clients[ana])
    (ours,) = scenario.live(ana)
    scenario.backend.person_edits(email(ana), ours.id, subject="Shift (Ana's note)")
    _put(scenario, 2, {ana})
    client = Interleaved(scenario.clients[ana])

    def ana_edits_again() -> None:
        # Between the re-read of the event and the update sent with its change key.
        scenario.backend.person_edits(email(ana), ours.id, subject="Shift (Ana's second note)")

    client.on_get = ana_edits_again
    report = push_calendar(scenario.sctx, ref, client)  # type: ignore[arg-type]

    # Nothing is overwritten blindly: the push is left pending and counted as a lost race,
    # which the worker runs again in a few seconds.
    assert report.raced == 1 and report.failed == {EVENT: "provider_precondition_failed"}
    assert report.left == 1
    assert scenario.live(ana)[0].start == T0
    again = push_calendar(scenario.sctx, ref, scenario.clients[ana])
    assert again.raced == 0 and again.left == 0
    (moved,) = scenario.live(ana)
    assert moved.start == T0 + timedelta(hours=2)


def test_a_pull_sees_the_deletion_of_an_event_created_and_deleted_while_it_ran(
    tmp_path: Path,
) -> None:
    scenario = Scenario("graph", tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])  # the cursor of an empty calendar
    _put(scenario, 0, {ana})
    client = Interleaved(scenario.clients[ana])

    def pushed_in_real_time_then_deleted_by_ana() -> None:
        # The pull has started; before its page is read the real-time push creates the event
        # and Ana deletes it at once.
        push_calendar(scenario.sctx, ref, scenario.clients[ana])
        (ours,) = scenario.live(ana)
        scenario.backend.person_deletes(email(ana), ours.id)

    client.on_changes = pushed_in_real_time_then_deleted_by_ana
    pull_calendar(scenario.sctx, ref, client)  # type: ignore[arg-type]

    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and mapping.state is RefState.GONE
    assert _feed(scenario) == ["event_cancelled"]


@pytest.mark.parametrize("mode", ["graph", "google"])
def test_a_person_assigned_again_while_our_delete_was_unanswered_gets_a_live_row(
    mode: Dedupe, tmp_path: Path
) -> None:
    scenario = Scenario(mode, tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana, "ben"})
    push_calendar(scenario.sctx, ref, scenario.clients[ana])
    _put(scenario, 0, {"ben"})  # Ana is unassigned; the delete's answer never comes
    scenario.backend.fail_next(email(ana), "unavailable")
    with pytest.raises(ProviderUnavailable):
        push_calendar(scenario.sctx, ref, scenario.clients[ana])
    deleting = scenario.refs.get(ORG, EVENT, ana)
    assert deleting is not None and deleting.state is RefState.DELETING

    _put(scenario, 1, {ana, "ben"})  # assigned again, an hour later
    push_calendar(scenario.sctx, ref, scenario.clients[ana])

    (ours,) = scenario.live(ana)
    assert ours.start == T0 + timedelta(hours=1)
    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and mapping.state is RefState.ACTIVE
    assert (mapping.provider_event_id, mapping.pushed_version) == (ours.id, 3)
    # The row is live again for the pull too: Ana's move is reported.
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    moved_to = T0 + timedelta(hours=5)
    scenario.backend.person_edits(
        email(ana), ours.id, start=moved_to, end=moved_to + timedelta(hours=1)
    )
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    assert _feed(scenario) == ["event_moved"]


def test_an_update_meeting_a_newer_push_in_flight_does_not_write_its_older_version(
    tmp_path: Path,
) -> None:
    """The convergence run's false ``event_moved`` and lost update: the worker's update of
    version 2 gets a 412 because the real-time push of version 3 has just written the calendar
    but not yet its mapping. The worker must not take that for the person's edit and write
    version 2 over version 3 (the push then records version 3 and nobody corrects it)."""
    scenario = Scenario("graph", tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    tables = scenario.sctx.consent.tables
    assert isinstance(tables, MemoryTableStore)
    _put(scenario, 0, {ana})
    push_calendar(scenario.sctx, ref, scenario.clients[ana])
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    _put(scenario, 1, {ana})  # version 2, which the worker is about to push
    worker_client = Interleaved(scenario.clients[ana])
    realtime_wrote, realtime_may_record = threading.Event(), threading.Event()

    def realtime_push_waits_before_its_mapping() -> None:
        realtime_wrote.set()
        assert realtime_may_record.wait(10)

    def let_the_realtime_push_record() -> None:
        realtime_may_record.set()
        realtime.join(10)

    def host_app_moves_it_again() -> None:
        _put(scenario, 3, {ana})  # version 3, pushed in real time (no lease)
        tables.faults.before("write", EVENTREFS, realtime_push_waits_before_its_mapping)
        realtime.start()
        assert realtime_wrote.wait(10)
        # The worker records its own write next: the real-time push records first.
        tables.faults.before("write", EVENTREFS, let_the_realtime_push_record)

    realtime = threading.Thread(
        target=push_calendar, args=(scenario.sctx, ref, scenario.clients[ana])
    )
    worker_client.on_update = host_app_moves_it_again
    push_calendar(scenario.sctx, ref, worker_client)  # type: ignore[arg-type]
    realtime.join(10)
    push_calendar(scenario.sctx, ref, scenario.clients[ana])  # the next cycle

    (ours,) = scenario.live(ana)
    assert ours.start == T0 + timedelta(hours=3), "an older version overwrote the newer one"
    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and mapping.pushed_version == 3
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    assert _feed(scenario) == []  # nobody moved it


def test_an_update_finding_the_event_deleted_by_a_concurrent_push_reports_no_cancellation(
    tmp_path: Path,
) -> None:
    """The convergence run's false ``event_cancelled``: the worker's update of version 2 is in
    flight when the host app unassigns Ana and the real-time push deletes her event. The
    worker's 404 is our own delete, not Ana's: nothing is reported."""
    scenario = Scenario("graph", tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana, "ben"})
    push_calendar(scenario.sctx, ref, scenario.clients[ana])
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    _put(scenario, 1, {ana, "ben"})  # version 2, which the worker is about to push
    worker_client = Interleaved(scenario.clients[ana])

    def host_app_unassigns_ana() -> None:
        _put(scenario, 1, {"ben"})
        push_calendar(scenario.sctx, ref, scenario.clients[ana])  # real time: deletes it

    worker_client.on_update = host_app_unassigns_ana
    push_calendar(scenario.sctx, ref, worker_client)  # type: ignore[arg-type]
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])

    assert scenario.live(ana) == []
    assert _feed(scenario) == [], "Ana deleted nothing"
    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and not mapping.live
    assert scenario.queue.markers(ref.key) == []


@pytest.mark.parametrize("mode", ["graph", "google"])
def test_a_repeated_create_does_not_undo_a_move_made_after_another_push_recorded_it(
    mode: Dedupe, tmp_path: Path
) -> None:
    """The convergence run's lost move (the calendar back at the host app's times, the row
    active at the same version, no marker): two runs repeat a create whose first answer was
    lost. The first records the event; Ana moves it; the second's create answers the same
    event, and its refresh must not write the host app's times over Ana's move."""
    scenario = Scenario(mode, tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana})
    scenario.backend.fail_next(email(ana), "lost")  # the create lands; its answer is lost
    with pytest.raises(ProviderUnavailable):
        push_calendar(scenario.sctx, ref, scenario.clients[ana])
    moved_to = T0 + timedelta(hours=6)
    second = Interleaved(scenario.clients[ana])

    def another_run_records_it_then_ana_moves_it() -> None:
        push_calendar(scenario.sctx, ref, scenario.clients[ana])
        (ours,) = scenario.live(ana)
        scenario.backend.person_edits(
            email(ana), ours.id, start=moved_to, end=moved_to + timedelta(hours=1)
        )

    second.on_create = another_run_records_it_then_ana_moves_it
    push_calendar(scenario.sctx, ref, second)  # type: ignore[arg-type]

    (ours,) = scenario.live(ana)
    assert ours.start == moved_to, "Ana's move was undone"
    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and mapping.state is RefState.ACTIVE
    assert scenario.queue.markers(ref.key) == []


def test_a_create_repeated_after_the_host_app_unassigned_and_reclaimed_leaves_no_orphan(
    tmp_path: Path,
) -> None:
    """The state machine's orphan: a create with a pending key (its first attempt was
    throttled) is in flight when the host app unassigns Ana and the real-time push reclaims
    the key. The repeated create lands after that and Graph answers a new event; its refresh
    finds the row changed and must not leave that event behind unrecorded."""
    scenario = Scenario("graph", tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana, "ben"})
    scenario.backend.fail_next(email(ana), "throttle")
    with pytest.raises(Throttled):
        push_calendar(scenario.sctx, ref, scenario.clients[ana])
    worker_client = Interleaved(scenario.clients[ana])

    def host_app_unassigns_ana() -> None:
        _put(scenario, 0, {"ben"})
        push_calendar(scenario.sctx, ref, scenario.clients[ana])  # real time: reclaims

    worker_client.on_create = host_app_unassigns_ana
    push_calendar(scenario.sctx, ref, worker_client)  # type: ignore[arg-type]

    assert scenario.live(ana) == [], "an event nobody records stayed in Ana's calendar"
    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and not mapping.live
    assert scenario.queue.markers(ref.key) == []


@pytest.mark.parametrize("mode", ["graph", "google"])
def test_a_reclaim_meeting_a_create_of_the_same_key_does_not_delete_the_recorded_event(
    mode: Dedupe, tmp_path: Path
) -> None:
    """The state machine's row pointing at nothing: Ana's create attempt is pending when the
    host app unassigns her, so the worker reclaims the key; just before its create reaches the
    provider the host app assigns her again and the real-time push creates with the same key
    and records the event. The reclaim is answered that very event: it must not delete it."""
    scenario = Scenario(mode, tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana, "ben"})
    scenario.backend.fail_next(email(ana), "throttle")
    with pytest.raises(Throttled):
        push_calendar(scenario.sctx, ref, scenario.clients[ana])
    _put(scenario, 0, {"ben"})  # unassigned: the pending key is to be reclaimed
    worker_client = Interleaved(scenario.clients[ana])

    def host_app_assigns_ana_again() -> None:
        _put(scenario, 2, {ana, "ben"})
        push_calendar(scenario.sctx, ref, scenario.clients[ana])  # real time: creates

    worker_client.on_create = host_app_assigns_ana_again
    push_calendar(scenario.sctx, ref, worker_client)  # type: ignore[arg-type]
    push_calendar(scenario.sctx, ref, scenario.clients[ana])  # the next cycle

    (ours,) = scenario.live(ana)
    assert ours.start == T0 + timedelta(hours=2)
    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and mapping.state is RefState.ACTIVE
    assert mapping.provider_event_id == ours.id, "the row points at a deleted event"
    assert scenario.queue.markers(ref.key) == []
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    assert _feed(scenario) == []  # Ana deleted nothing


@pytest.mark.parametrize("mode", ["graph", "google"])
def test_a_person_assigned_again_while_our_delete_is_in_flight_keeps_the_event(
    mode: Dedupe, tmp_path: Path
) -> None:
    """The worker's delete is recorded (``deleting``) and on its way when the host app assigns
    Ana again and pushes in real time. Writing the event in place would be undone by the delete
    landing after it (the row active over a deleted event, then reported as Ana's deletion):
    the recorded delete is finished first and the event created anew."""
    scenario = Scenario(mode, tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana, "ben"})
    push_calendar(scenario.sctx, ref, scenario.clients[ana])
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    _put(scenario, 0, {"ben"})
    worker_client = Interleaved(scenario.clients[ana])

    def host_app_assigns_ana_again() -> None:
        _put(scenario, 1, {ana, "ben"})
        push_calendar(scenario.sctx, ref, scenario.clients[ana])

    worker_client.on_delete = host_app_assigns_ana_again
    push_calendar(scenario.sctx, ref, worker_client)  # type: ignore[arg-type]
    push_calendar(scenario.sctx, ref, scenario.clients[ana])  # the next cycle

    (ours,) = scenario.live(ana)
    assert ours.start == T0 + timedelta(hours=1)
    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and mapping.state is RefState.ACTIVE
    assert mapping.provider_event_id == ours.id, "the row points at a deleted event"
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    assert _feed(scenario) == []  # Ana deleted nothing


def test_a_deletion_made_just_before_a_new_full_listing_is_reported(tmp_path: Path) -> None:
    """The state machine's unreported deletion: Ana deletes our event after the last
    incremental pull, and the next pull starts a new full listing (the window moved on by a
    day; an expired cursor does the same). A full listing lists what exists, so no page
    carries the removal: the event is still ours to judge."""
    scenario = Scenario("graph", tmp_path)
    ana, ref = "ana", scenario.refs_of["ana"]
    _put(scenario, 0, {ana})
    push_calendar(scenario.sctx, ref, scenario.clients[ana])
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])
    (ours,) = scenario.live(ana)
    scenario.backend.person_deletes(email(ana), ours.id)
    clock = scenario.sctx.consent.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=1))

    report = pull_calendar(scenario.sctx, ref, scenario.clients[ana])

    assert report.complete
    mapping = scenario.refs.get(ORG, EVENT, ana)
    assert mapping is not None and mapping.state is RefState.GONE
    assert _feed(scenario) == ["event_cancelled"]
    pull_calendar(scenario.sctx, ref, scenario.clients[ana])  # said once
    assert _feed(scenario) == ["event_cancelled"]
