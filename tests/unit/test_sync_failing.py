"""``sync_failing`` after a bounded time of continued failure of any kind, including throttling
for minutes on end and a worker that never finishes, and the health view shows what the workers
see."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from shared.sync import health
from shared.sync.cycle import run_cycle
from shared.sync.worker import BatchMessage, run_message
from tests.unit.test_bounded_work import ORG, World


def _failing(world: World) -> list[dict[str, object]]:
    return [n.data for n in world.consent.outbox.after(ORG) if n.kind == "sync_failing"]


def _cycle_and_run(world: World, skip: str | None = None) -> None:
    """One 5-minute cycle and the worker running what it enqueued (``skip``'s messages are
    taken by a worker that never finishes them)."""
    run_cycle(world.sctx, world.clock.now())
    for message in world.messages():
        if isinstance(message, BatchMessage) and skip in message.calendars:
            continue
        run_message(world.sctx, message)


def test_a_provider_throttling_for_longer_than_the_bound_raises_sync_failing(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, SYNC_FAILING_AFTER_MINUTES="10")
    (person,) = world.connect(1)
    world.backend.set_throttling(f"{person}@bounded.example", 60)
    for _ in range(3):  # 10 minutes of 429/503 with Retry-After: not yet
        _cycle_and_run(world)
        world.clock.advance(timedelta(minutes=4))
    assert _failing(world) == []
    world.clock.advance(timedelta(minutes=1))
    _cycle_and_run(world)

    (report,) = _failing(world)
    assert (report["calendar"], report["error"]) == (world.key(person), "provider_throttled")
    # Once per episode: more throttled runs add nothing.
    world.clock.advance(timedelta(minutes=5))
    _cycle_and_run(world)
    assert len(_failing(world)) == 1


def test_a_calendar_whose_worker_never_finishes_is_reported_with_the_others(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, SYNC_FAILING_AFTER_MINUTES="15", SYNC_CALENDARS_PER_MESSAGE="1")
    _first, _second, stuck = world.connect(3)
    _cycle_and_run(world)  # all three synced once
    for _ in range(4):
        world.clock.advance(timedelta(minutes=5))
        _cycle_and_run(world, skip=world.key(stuck))

    assert [r["calendar"] for r in _failing(world)] == [world.key(stuck)]
    assert _failing(world)[0]["error"] == health.SYNC_STALLED
    view = health.integration_health(world.sctx, ORG, "int-1", world.clock.now())
    assert (view.calendars_failing, view.failures_by_kind) == (1, {health.SYNC_STALLED: 1})


def test_a_calendar_that_never_synced_is_reported_once_the_bound_has_passed(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, SYNC_FAILING_AFTER_MINUTES="10", SYNC_CALENDARS_PER_MESSAGE="1")
    (person,) = world.connect(1)
    for _ in range(3):
        _cycle_and_run(world, skip=world.key(person))
        world.clock.advance(timedelta(minutes=5))
    _cycle_and_run(world, skip=world.key(person))
    assert [r["calendar"] for r in _failing(world)] == [world.key(person)]


def test_time_in_which_no_cycle_ran_does_not_make_calendars_overdue(tmp_path: Path) -> None:
    world = World(tmp_path, SYNC_FAILING_AFTER_MINUTES="15")
    world.connect(2)
    _cycle_and_run(world)
    world.clock.advance(timedelta(hours=3))  # the app was stopped: no cycle, no worker
    run_cycle(world.sctx, world.clock.now())  # first cycle after the gap, before any run
    assert _failing(world) == []
    world.messages()  # taken by workers that never finish
    for _ in range(3):
        world.clock.advance(timedelta(minutes=5))
        run_cycle(world.sctx, world.clock.now())
        world.messages()
    assert len(_failing(world)) == 2  # 15 minutes of cycles without a sync: now they are
