"""Bounded work: the cycle enqueues a calendar only when no message for it is pending, packs
calendars into messages, a worker run keeps to its page and time budgets (continuing in a new
message) and renews its lease during a long pull, and a real-time push hands what its deadline
did not reach to the worker.

The engine runs over the in-memory twins (tables, secrets, queues, calendars). The calendars are
reached through :class:`MemoryKit`, another implementation of the ``ProviderKit`` interface; its
clients can move the manual clock when the provider is called, which is how a slow provider is
played without sleeping.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.clock import ManualClock
from shared.consent.connections import Connection, ConnectionStatus
from shared.consent.context import ConsentContext
from shared.integrations.model import Integration, Kind, Provider, Status
from shared.providers.base import (
    AccessToken,
    AuthStart,
    CalendarClient,
    ChangePage,
    EventDraft,
    Grant,
    TokenSource,
    WrittenEvent,
)
from shared.providers.memory import MemoryCalendarBackend
from shared.secrets.memory_store import MemorySecretStore
from shared.settings import load_settings
from shared.storage.memory_queues import MemoryQueueSender
from shared.storage.memory_tables import MemoryTableStore
from shared.sync import batches, requests, webhooks
from shared.sync.appevents import AppEvents, EventContent
from shared.sync.busy import BusyStore
from shared.sync.context import SYNC_QUEUE, SyncContext
from shared.sync.cycle import run_cycle
from shared.sync.leases import Leases
from shared.sync.mappings import PushQueue
from shared.sync.push import Outcome, push_event_now
from shared.sync.worker import (
    BatchMessage,
    NotifiedMessage,
    SyncMessage,
    parse_message,
    run_message,
)

ORG = "org-bounded"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class MemoryAuth:
    """Delegated auth whose access token is the stored blob (the person's address)."""

    provider = "microsoft"

    def begin(self, **_: Any) -> AuthStart:
        raise NotImplementedError("no sign-in in these tests")

    def complete(self, flow: Mapping[str, Any], params: Mapping[str, str]) -> Grant:
        raise NotImplementedError("no sign-in in these tests")

    def access_token(
        self, token_blob: str, scopes: Sequence[str] | None = None, *, force_refresh: bool = False
    ) -> AccessToken:
        return AccessToken(token_blob, datetime(2100, 1, 1, tzinfo=UTC))

    def revoke(self, token_blob: str) -> None:
        return None


class SlowClient:
    """A calendar client whose provider takes ``seconds`` of the manual clock per call that
    reads changes or writes an event; ``on_changes`` runs before each changes call."""

    def __init__(self, inner: CalendarClient, clock: ManualClock, seconds: float) -> None:
        self.inner, self.clock, self.seconds = inner, clock, seconds
        self.on_changes: Callable[[int], None] | None = None
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def changes(
        self, cursor: str | None, window_start: datetime, window_end: datetime, page_size: int = 100
    ) -> ChangePage:
        self.calls += 1
        self.clock.advance(timedelta(seconds=self.seconds))
        if self.on_changes is not None:
            self.on_changes(self.calls)
        return self.inner.changes(cursor, window_start, window_end, page_size)

    def create_event(self, draft: EventDraft) -> WrittenEvent:
        self.clock.advance(timedelta(seconds=self.seconds))
        return self.inner.create_event(draft)


class MemoryKit:
    """``ProviderKit`` over a :class:`MemoryCalendarBackend`: the token names the calendar."""

    def __init__(self, backend: MemoryCalendarBackend, clock: ManualClock) -> None:
        self.backend, self.clock = backend, clock
        self.slow: dict[str, SlowClient] = {}  # by address: clients that move the clock

    def close(self) -> None:
        return None

    def delegated(self, provider: str) -> MemoryAuth:
        return MemoryAuth()

    def calendar(
        self,
        provider: str,
        tokens: TokenSource,
        *,
        user: str = "me",
        mailbox_key: str | None = None,
    ) -> CalendarClient:
        email = tokens()
        slow = self.slow.get(email)
        return slow if slow is not None else self.backend.client(email)  # type: ignore[return-value]

    def room_directory(self, provider: str, *, tenant: str, tokens: TokenSource) -> CalendarClient:
        raise NotImplementedError

    def admin_consent_url(self, *, tenant: str | None, redirect_uri: str, state: str) -> str:
        raise NotImplementedError

    def parse_admin_consent(self, params: Mapping[str, str]) -> str:
        raise NotImplementedError


class CountingSecrets(MemorySecretStore):
    """The in-memory secret store, counting reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, name: str) -> str | None:
        self.reads += 1
        return super().get(name)


class World:
    def __init__(self, tmp: Path, **settings: str) -> None:
        values = {"LOCAL_SETTINGS_FILE": str(tmp / "none.json"), **settings}
        self.settings = load_settings(values)
        self.clock = ManualClock(T0)
        self.backend = MemoryCalendarBackend()
        self.kit = MemoryKit(self.backend, self.clock)
        self.secrets = CountingSecrets()
        self.consent = ConsentContext(
            self.settings, MemoryTableStore(), self.secrets, self.clock, self.kit
        )
        self.queues = MemoryQueueSender(clock=lambda: self.clock.now().timestamp())
        self.sctx = SyncContext(self.consent, self.queues)
        self.integration = self.consent.integrations.insert(
            Integration(
                org=ORG, id="int-1", kind=Kind.WORKSPACE, provider=Provider.MICROSOFT,
                name="Outlook", status=Status.ENABLED, created_at=T0, created_by="test",
                updated_at=T0, tenant="tenant-1", test_passed_at=T0, enabled_at=T0,
                enabled_by="test",
            )
        )  # fmt: skip

    def connect(self, count: int) -> list[str]:
        """``count`` connected people; their person ids (also the local part of the address)."""
        people = []
        for _ in range(count):
            person = "p" + uuid.uuid4().hex[:8]
            email = f"{person}@bounded.example"
            self.backend.add_calendar(email, person)
            self.consent.connections.save(
                Connection(
                    org=ORG, integration_id="int-1", subject=person,
                    status=ConnectionStatus.CONNECTED, account=email, user_id=person,
                    tenant="tenant-1", scopes=("Calendars.ReadWrite",), connected_at=T0,
                    updated_at=T0,
                ),
                email,
            )  # fmt: skip
            people.append(person)
        return people

    def key(self, person: str) -> str:
        return f"int-1:{person}"

    def messages(self) -> list[SyncMessage | BatchMessage]:
        return [parse_message(m.body) for m in self.queues.take(SYNC_QUEUE)]

    def run_queue(self, limit: int = 50) -> int:
        """Play the queue trigger until the queue is empty; how many messages ran."""
        ran = 0
        while (taken := self.messages()) and ran < limit:
            for message in taken:
                run_message(self.sctx, message)
                ran += 1
        return ran


def calendars_in(messages: list[SyncMessage | BatchMessage]) -> list[str]:
    keys: list[str] = []
    for m in messages:
        keys += list(m.calendars) if isinstance(m, BatchMessage) else [m.calendar]
    return keys


# --- the cycle ----------------------------------------------------------------------------------


def test_the_cycle_packs_calendars_into_messages_of_the_configured_size(tmp_path: Path) -> None:
    world = World(tmp_path, SYNC_CALENDARS_PER_MESSAGE="50")
    people = world.connect(120)

    report = run_cycle(world.sctx, T0)

    messages = world.messages()
    assert (report.calendars, report.messages, len(messages)) == (120, 3, 3)
    assert sorted(calendars_in(messages)) == sorted(world.key(p) for p in people)
    assert sorted(len(m.calendars) for m in messages if isinstance(m, BatchMessage)) == [
        20,
        50,
        50,
    ]


def test_a_calendar_whose_cycle_message_is_pending_is_not_enqueued_again(tmp_path: Path) -> None:
    world = World(tmp_path, SYNC_CALENDARS_PER_MESSAGE="2")
    ana, bob, cy = world.connect(3)

    run_cycle(world.sctx, T0)
    # The workers are behind: nothing ran. Three more cycles come and go.
    for minutes in (5, 10, 15):
        again = run_cycle(world.sctx, T0 + timedelta(minutes=minutes))
        assert (again.calendars, again.pending) == (0, 3)
    pending = world.messages()
    assert sorted(calendars_in(pending)) == sorted(world.key(p) for p in (ana, bob, cy))

    # The message of two calendars runs; the other one's message is still waiting.
    (pair,) = [m for m in pending if len(calendars_in([m])) == 2]
    (single,) = [m for m in pending if m is not pair]
    run_message(world.sctx, pair)
    later = run_cycle(world.sctx, T0 + timedelta(minutes=20))
    assert sorted(calendars_in(world.messages())) == sorted(calendars_in([pair]))
    assert later.pending == 1
    run_message(world.sctx, single)
    held, stale = batches.pending(world.consent.tables, T0 + timedelta(minutes=20))
    assert held == set(calendars_in([pair])) and stale == []


def test_a_batch_whose_message_was_lost_is_taken_over_after_an_hour(tmp_path: Path) -> None:
    world = World(tmp_path)
    (ana,) = world.connect(1)
    run_cycle(world.sctx, T0)
    world.messages()  # lost: nobody runs it

    assert run_cycle(world.sctx, T0 + timedelta(minutes=55)).calendars == 0
    assert run_cycle(world.sctx, T0 + timedelta(minutes=60)).calendars == 1
    assert calendars_in(world.messages()) == [world.key(ana)]


# --- the worker ---------------------------------------------------------------------------------


def _many_events(world: World, person: str, count: int) -> None:
    for i in range(count):
        start = T0 + timedelta(days=1, minutes=30 * i)
        world.backend.person_creates(
            f"{person}@bounded.example", f"busy {i}", start, start + timedelta(minutes=15)
        )


def test_a_long_pull_stops_at_its_page_budget_and_continues_in_a_new_message(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, SYNC_MAX_PAGES="1")
    (ana,) = world.connect(1)
    _many_events(world, ana, 250)  # three pages of 100

    outcome = run_message(world.sctx, SyncMessage(ORG, world.key(ana)))

    assert outcome == "continued"
    assert len(BusyStore(world.consent.tables).all(world.key(ana))) == 100
    continuation = world.messages()
    assert calendars_in(continuation) == [world.key(ana)]
    run_message(world.sctx, continuation[0])
    world.run_queue()
    assert len(BusyStore(world.consent.tables).all(world.key(ana))) == 250


def test_a_long_pull_renews_its_lease_so_no_other_worker_takes_the_calendar(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    (ana,) = world.connect(1)
    _many_events(world, ana, 450)  # five pages of 100
    slow = SlowClient(world.backend.client(f"{ana}@bounded.example"), world.clock, 4 * 60)
    world.kit.slow[f"{ana}@bounded.example"] = slow
    leases = Leases(world.consent.tables, world.clock)
    intruded: list[bool] = []
    # Each page takes four minutes: by the fourth page the first lease (10 minutes) is over.
    slow.on_changes = lambda call: intruded.append(
        call >= 4 and leases.acquire(world.key(ana), "another-worker") is not None
    )

    assert run_message(world.sctx, SyncMessage(ORG, world.key(ana))) == "synced"

    assert slow.calls == 5 and intruded == [False] * 5
    assert len(BusyStore(world.consent.tables).all(world.key(ana))) == 450
    assert leases.holder(world.key(ana)) is None  # released at the end


def test_a_lease_taken_over_after_it_ran_out_stops_the_old_run(tmp_path: Path) -> None:
    world = World(tmp_path)
    (ana,) = world.connect(1)
    _many_events(world, ana, 250)
    slow = SlowClient(world.backend.client(f"{ana}@bounded.example"), world.clock, 11 * 60)
    world.kit.slow[f"{ana}@bounded.example"] = slow
    leases = Leases(world.consent.tables, world.clock)
    taken: list[object] = []
    # The first page took 11 minutes: the lease ran out and another worker took the calendar.
    slow.on_changes = lambda call: taken.append(
        leases.acquire(world.key(ana), "new-holder") if call == 1 else None
    )

    assert run_message(world.sctx, SyncMessage(ORG, world.key(ana))) == "busy"

    assert taken[0] is not None and slow.calls == 1
    holder = leases.holder(world.key(ana))
    assert holder is not None and holder[0] == "new-holder"


def test_a_packed_message_hands_what_its_budget_did_not_reach_to_a_continuation(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, SYNC_CONCURRENCY="1", SYNC_MESSAGE_BUDGET_SECONDS="240")
    people = sorted(world.connect(3))  # the cycle lists an integration's people in order
    first = f"{people[0]}@bounded.example"
    world.kit.slow[first] = SlowClient(world.backend.client(first), world.clock, 5 * 60)
    run_cycle(world.sctx, T0)
    (message,) = world.messages()
    assert isinstance(message, BatchMessage) and message.calendars[0] == world.key(people[0])

    run_message(world.sctx, message)  # the first calendar's provider took 5 minutes

    (continuation,) = world.messages()
    assert isinstance(continuation, BatchMessage)
    assert continuation.batch == message.batch
    assert list(continuation.calendars) == [world.key(p) for p in people[1:]]
    # Still pending for the cycle until the continuation is done.
    assert run_cycle(world.sctx, world.clock.now()).calendars == 0
    run_message(world.sctx, continuation)
    assert world.messages() == []
    assert run_cycle(world.sctx, world.clock.now()).calendars == 3


# --- the real-time push -------------------------------------------------------------------------


def _shift(world: World, people: list[str]) -> None:
    content = EventContent(
        "Shift", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1), tuple(people)
    )
    AppEvents(world.consent.tables).put(ORG, "shift-1", content, T0)


def test_a_push_hands_the_people_its_deadline_did_not_reach_to_the_worker(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, PUSH_INLINE_DEADLINE_SECONDS="0")
    people = world.connect(3)
    _shift(world, people)

    outcomes = push_event_now(world.sctx, ORG, "shift-1")

    assert {o.person: o.status for o in outcomes} == dict.fromkeys(people, Outcome.QUEUED)
    queued = world.messages()
    assert sorted(calendars_in(queued)) == sorted(world.key(p) for p in people)
    for person in people:
        assert world.backend.live(f"{person}@bounded.example") == []
        assert PushQueue(world.consent.tables).get(world.key(person), ORG, "shift-1") is not None
    for message in queued:
        run_message(world.sctx, message)
    for person in people:
        (event,) = world.backend.live(f"{person}@bounded.example")
        assert event.subject == "Shift"


@pytest.mark.parametrize("deadline", ["10"])
def test_a_push_within_its_deadline_is_done_inline(tmp_path: Path, deadline: str) -> None:
    world = World(tmp_path, PUSH_INLINE_DEADLINE_SECONDS=deadline)
    people = world.connect(2)
    _shift(world, people)

    outcomes = push_event_now(world.sctx, ORG, "shift-1")

    assert {o.person: o.status for o in outcomes} == dict.fromkeys(people, Outcome.SYNCED)
    assert world.messages() == []


# --- webhooks -----------------------------------------------------------------------------------


def _graph_post(subs: list[Any], per_sub: int, client_state: str | None = None) -> bytes:
    items = [
        {
            "subscriptionId": sub.id,
            "clientState": client_state or sub.client_state,
            "changeType": change,
            "resource": f"Users/x/Events/{n}",
        }
        for sub in subs
        for n in range(per_sub)
        for change in ("created", "updated")
    ]
    return json.dumps({"value": items}).encode()


def test_a_webhook_post_is_verified_from_memory_and_answered_with_one_queue_message(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    people = world.connect(10)
    run_cycle(world.sctx, T0)
    world.run_queue()  # every calendar synced once: ten subscriptions
    subs = world.backend.subscriptions()
    assert len(subs) == 10

    first = webhooks.graph_notifications(world.sctx, _graph_post(subs, 5))
    (message,) = world.messages()
    reads = world.secrets.reads
    again = webhooks.graph_notifications(world.sctx, _graph_post(subs, 5))

    assert (first.accepted, first.enqueued) == (100, 1)
    assert (again.accepted, again.enqueued) == (100, 1)
    assert world.secrets.reads == reads  # the second POST read no secret: all from memory
    assert isinstance(message, NotifiedMessage)
    assert sorted(n[1] for n in message.notified) == sorted(world.key(p) for p in people)
    # The queue trigger de-duplicates: one sync per calendar however many notifications.
    run_message(world.sctx, message)
    (repeat,) = world.messages()
    run_message(world.sctx, repeat)
    world.clock.advance(timedelta(seconds=webhooks.COALESCE_SECONDS))
    syncs = world.messages()
    assert sorted(calendars_in(syncs)) == sorted(world.key(p) for p in people)


def test_a_forged_client_state_is_refused_even_for_a_subscription_known_in_memory(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.connect(1)
    run_cycle(world.sctx, T0)
    world.run_queue()
    (sub,) = world.backend.subscriptions()
    assert webhooks.graph_notifications(world.sctx, _graph_post([sub], 1)).accepted == 2
    world.messages()

    forged = webhooks.graph_notifications(world.sctx, _graph_post([sub], 1, "guessed"))

    assert (forged.accepted, forged.ignored, forged.enqueued) == (0, 2, 0)
    assert world.messages() == []


def test_a_notification_for_an_erased_calendar_leaves_no_marker_behind(tmp_path: Path) -> None:
    world = World(tmp_path)
    # A change notification verified from memory while the calendar's integration was being
    # erased: the queue trigger inserts the marker and its one message.
    gone = f"{uuid.uuid4().hex}:person-gone"
    assert webhooks.request(world.sctx, ORG, gone, "graph")
    assert requests.pending(world.consent.tables, gone) is not None

    world.clock.advance(timedelta(seconds=webhooks.COALESCE_SECONDS))
    messages = world.messages()
    assert len(messages) == 1
    assert run_message(world.sctx, messages[0]) == "dropped"

    assert requests.pending(world.consent.tables, gone) is None
