"""The sync engine as a state machine: any interleaving of host-app changes, people's changes in
their calendars, change notifications, worker runs, 5-minute cycles, webhook deliveries and
storage or provider failures keeps the promises the service makes.

Driven by Hypothesis (``RuleBasedStateMachine``) against the real engine (``push_calendar``,
``pull_calendar``, ``webhooks.request``, ``delivery.deliver``, the outbox) on the in-memory
table store and queue, which fail on command (``StoreFaults``: a call refused, or applied with
its answer lost), and ``MemoryCalendarClient``, the provider twin that passes the
CalendarClient contract suite (its faults: throttled, unavailable, applied-but-lost). The host
app's receiver is a real ``httpx`` client whose transport answers like a host app would
(sometimes with a 503).

Invariants, after every step:

* the feed never skips: ids are 1..n without a hole, and the receiver got them in order (a
  redelivery repeats the last id, never jumps back);
* each fact is reported at most once (no two notifications of one fact);
* no event is written twice: a calendar holds at most one copy of a host-app event.

And once the failures stop and the system settles:

* every calendar converges (the host app's latest times for every person it wants there,
  except where the person deleted the event after its latest version was written);
* each fact still standing is reported exactly once (a deletion the person made, a move the
  person made), and every notification reached the receiver.

Which side wins is left by the rules to "whoever sees it first" in one place, which the rules
below keep out of: the host app does not change an event a person deleted until the deletion was
seen (as the convergence run does with its barriers).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import event as record
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from shared.clock import ManualClock
from shared.errors import ProviderError, StorageUnavailable
from shared.providers.memory import Dedupe, MemoryCalendarBackend, StoredEvent
from shared.storage.memory_queues import MemoryQueueSender
from shared.storage.memory_tables import MemoryTableStore
from shared.sync import delivery, requests, webhooks
from shared.sync.appevents import AppEvents, EventContent
from shared.sync.calendars import CalendarRef
from shared.sync.context import SYNC_QUEUE, SyncContext
from shared.sync.mappings import EventRefs, PushQueue, RefState
from shared.sync.pull import pull_calendar
from shared.sync.push import push_calendar
from tests.unit.test_push_planner import ORG, T0, email, sync_context
from tests.unit.test_sync_races import Interleaved

PEOPLE = ("ana", "ben")
EVENTS = ("shift-1", "shift-2")
# The failures a call can meet: the store refuses it, or applies it and the answer is lost;
# aimed at any call or at the writes of one table the engine keeps its promises in.
TABLES = (
    "*", "notifications", "notificationkeys", "notificationseq", "eventrefs", "eventindex",
    "pushqueue", "cursors", "appevents", "webhooksettings", "leases", "syncrequests",
)  # fmt: skip
STORAGE_FAULTS = st.tuples(
    st.sampled_from(TABLES), st.sampled_from(["write", "*"]), st.integers(0, 3), st.booleans()
)
MAYBE_FAULT = st.none() | STORAGE_FAULTS
PROVIDER_FAULTS = st.lists(st.sampled_from(["ok", "throttle", "unavailable", "lost"]), max_size=3)
# One pass of everything, repeated, settles the system once faults stop.
SETTLE_ROUNDS = 4


@dataclass
class Receiver:
    """The host app's webhook endpoint: records ``webhook-id`` of what it accepted."""

    accepted: list[str] = field(default_factory=list)
    refuse_next: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.refuse_next:
            self.refuse_next -= 1
            return httpx.Response(503)
        self.accepted.append(request.headers["webhook-id"])
        return httpx.Response(204)


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory()
        consent = sync_context(Path(self._tmp.name)).consent
        clock = consent.clock
        assert isinstance(clock, ManualClock) and isinstance(consent.tables, MemoryTableStore)
        # Delayed messages become visible on the scenario's clock, not the wall clock.
        self.queues = MemoryQueueSender(clock=lambda: clock.now().timestamp())
        self.sctx = SyncContext(consent, self.queues)
        self.tables, self.clock = consent.tables, clock
        tables = consent.tables
        self.events, self.refs = AppEvents(tables), EventRefs(tables)
        self.markers = PushQueue(tables)
        self.refs_of = {p: CalendarRef(ORG, "int-1", "microsoft", p) for p in PEOPLE}
        self.backend = MemoryCalendarBackend()
        self.receiver = Receiver()
        self.http = httpx.Client(transport=httpx.MockTransport(self.receiver))
        self.hour = 0
        self.steps = 0
        self.running: list[tuple[str, str]] = []  # (party, person) acting right now
        self.provider_hooks: dict[str, dict[str, Callable[[], None]]] = {}
        # What people did since the host app's last change of the event: (event, person) ->
        # the provider id they deleted / the times they moved it to.
        self.deleted: dict[tuple[str, str], str] = {}
        self.moved: dict[tuple[str, str], tuple[str, str]] = {}

    def teardown(self) -> None:
        self.http.close()
        self._tmp.cleanup()

    @initialize(mode=st.sampled_from(["graph", "google", "remembering"]))
    def setup(self, mode: Dedupe) -> None:
        self.backend.dedupe = mode
        for p in PEOPLE:
            self.backend.add_calendar(email(p), p.title())
        delivery.configure(self.sctx, ORG, "https://host.example/hooks")
        for p in PEOPLE:  # connected: the first sync sets the cursors
            pull_calendar(self.sctx, self.refs_of[p], self._client(p))

    # --- helpers ---------------------------------------------------------------------------

    def _client(self, p: str) -> Interleaved:
        """A client of the person's calendar carrying the provider-side interleaving armed for
        the next run that talks to it (``interleave_at_provider``)."""
        client = Interleaved(self.backend.client(email(p)))
        for call, hook in self.provider_hooks.pop(p, {}).items():
            setattr(client, f"on_{call}", hook)
        return client

    def _ours(self, event: str, p: str) -> StoredEvent | None:
        """The person's copy of ``event`` if its latest version was written there."""
        with self.tables.faults.suspended():  # the script looks; the service is not involved
            app = self.events.get(ORG, event)
            mapping = self.refs.get(ORG, event, p)
        if app is None or mapping is None or mapping.state is not RefState.ACTIVE:
            return None
        if mapping.pushed_version != app.version or not app.wants(p):
            return None
        live = [e for e in self.backend.live(email(p)) if e.id == mapping.provider_event_id]
        return live[0] if live else None

    def _deletion_unseen(self, event: str) -> bool:
        for (e, p), _ in self.deleted.items():
            with self.tables.faults.suspended():
                mapping = self.refs.get(ORG, e, p)
            if e == event and (mapping is None or mapping.state is RefState.ACTIVE):
                return True
        return False

    def _host(self, write: object) -> None:
        """The host app's request; after a 503 (storage refused) it sends it again."""
        for _ in range(20):
            try:
                write()  # type: ignore[operator]
                return
            except StorageUnavailable:
                continue
        raise AssertionError("the host app's request kept failing")

    def _sync(self, p: str) -> None:
        """One worker run of the person's calendar: push the pending work, pull changes.
        A failure ends the run; the message's retry or the next cycle runs it again."""
        ref, client = self.refs_of[p], self._client(p)
        self.running.append(("worker", p))
        try:
            with contextlib.suppress(StorageUnavailable, ProviderError):
                push_calendar(self.sctx, ref, client)
                pull_calendar(self.sctx, ref, client)
        finally:
            self.running.remove(("worker", p))

    def _deliver(self) -> None:
        with contextlib.suppress(StorageUnavailable):
            # host.example does not resolve; the mock transport answers for a public address.
            delivery.deliver(
                self.sctx, ORG, http=self.http, resolve=lambda host, port: ["93.184.216.34"]
            )

    # --- the host app ------------------------------------------------------------------------

    @rule(
        event=st.sampled_from(EVENTS),
        people=st.sets(st.sampled_from(PEOPLE)),
        hours=st.integers(1, 3),
        fault=MAYBE_FAULT,
        inline=st.booleans(),
    )
    def host_puts(
        self,
        event: str,
        people: set[str],
        hours: int,
        fault: tuple[str, str, int, bool] | None = None,
        inline: bool = True,
    ) -> None:
        if self._deletion_unseen(event):
            return  # see the module docstring: the script keeps out of "whoever sees it first"
        self._arm(fault)
        self.hour += hours
        start = T0 + timedelta(hours=self.hour)
        content = EventContent("Shift", start, start + timedelta(hours=1), tuple(sorted(people)))

        def put() -> None:
            stored = self.events.put(ORG, event, content, T0)
            for p in stored.event.affected:
                self.markers.mark(self.refs_of[p].key, ORG, event, stored.event.version)

        self._host(put)
        self._after_host_change(event, inline)

    def _after_host_change(self, event: str, inline: bool = True) -> None:
        for p in PEOPLE:
            self.deleted.pop((event, p), None)
            self.moved.pop((event, p), None)
        # The PUT/DELETE pushes in real time (no lease, as push_event_now does) unless its
        # deadline passes first; what is not pushed stays marked for the worker.
        for p in PEOPLE if inline else ():
            self._realtime_push(p)

    def _realtime_push(self, p: str) -> None:
        self.running.append(("realtime", p))
        try:
            with contextlib.suppress(StorageUnavailable, ProviderError):
                push_calendar(self.sctx, self.refs_of[p], self._client(p))
        finally:
            self.running.remove(("realtime", p))

    @precondition(lambda self: self._any_active())
    @rule(event=st.sampled_from(EVENTS))
    def host_cancels(self, event: str) -> None:
        with self.tables.faults.suspended():
            exists = self.events.get(ORG, event) is not None
        if not exists or self._deletion_unseen(event):
            return

        def cancel() -> None:
            stored = self.events.cancel(ORG, event, T0)
            for p in stored.event.affected:
                self.markers.mark(self.refs_of[p].key, ORG, event, stored.event.version)

        self._host(cancel)
        self._after_host_change(event)

    # --- the people, in their calendars ----------------------------------------------------

    def _any_active(self) -> bool:
        with self.tables.faults.suspended():
            return any((e := self.events.get(ORG, x)) is not None and e.active for x in EVENTS)

    def _copies(self) -> list[tuple[str, str, StoredEvent]]:
        """(event, person, the person's copy) wherever the latest version was written."""
        found = []
        for event in EVENTS:
            for p in PEOPLE:
                ours = self._ours(event, p)
                if ours is not None and (event, p) not in self.deleted:
                    found.append((event, p, ours))
        return found

    @precondition(lambda self: bool(self._copies()))
    @rule(which=st.integers(0, 3), minutes=st.integers(1, 50))
    def person_moves(self, which: int, minutes: int) -> None:
        copies = self._copies()
        if not copies:
            return
        event, p, ours = copies[which % len(copies)]
        start = ours.start + timedelta(minutes=minutes)
        end = ours.end + timedelta(minutes=minutes)
        self.backend.person_edits(email(p), ours.id, start=start, end=end)
        self.moved[(event, p)] = (start.isoformat(), end.isoformat())

    @precondition(lambda self: bool(self._copies()))
    @rule(which=st.integers(0, 3))
    def person_deletes(self, which: int) -> None:
        copies = self._copies()
        if not copies:
            return
        event, p, ours = copies[which % len(copies)]
        self.backend.person_deletes(email(p), ours.id)
        self.deleted[(event, p)] = ours.id
        self.moved.pop((event, p), None)  # the deletion is what stands

    # --- the service -----------------------------------------------------------------------

    @rule(p=st.sampled_from(PEOPLE), fault=MAYBE_FAULT)
    def change_notification(self, p: str, fault: tuple[str, str, int, bool] | None = None) -> None:
        """The provider's webhook for the person's calendar: one sync requested."""
        self._arm(fault)
        with contextlib.suppress(StorageUnavailable):
            webhooks.request(self.sctx, ORG, self.refs_of[p].key, "graph")

    def _arm(self, fault: tuple[str, str, int, bool] | None) -> None:
        if fault is not None:
            self.storage_fails(fault)

    @rule(fault=MAYBE_FAULT)
    def worker_takes_messages(self, fault: tuple[str, str, int, bool] | None = None) -> None:
        self._arm(fault)
        for message in self.queues.take(SYNC_QUEUE):
            calendar = message.body["calendar"]
            with contextlib.suppress(StorageUnavailable):
                requests.clear(self.tables, calendar)
            person = next(p for p, ref in self.refs_of.items() if ref.key == calendar)
            self._sync(person)

    @rule(fault=MAYBE_FAULT)
    def cycle(self, fault: tuple[str, str, int, bool] | None = None) -> None:
        self._arm(fault)
        for p in PEOPLE:
            self._sync(p)

    @rule(refuse=st.integers(0, 1), fault=MAYBE_FAULT)
    def deliver(self, refuse: int, fault: tuple[str, str, int, bool] | None = None) -> None:
        self._arm(fault)
        self.receiver.refuse_next = refuse
        self._deliver()
        self.receiver.refuse_next = 0
        # A refused delivery waits for its backoff: let that time pass.
        self.clock.advance(timedelta(seconds=delivery.BACKOFF[-1]))

    # --- failures ----------------------------------------------------------------------------

    @rule(fault=STORAGE_FAULTS)
    def storage_fails(self, fault: tuple[str, str, int, bool]) -> None:
        table, operation, skip, applied = fault
        self.tables.faults.fail(operation, table, skip=skip, applied=applied)

    @rule(skip=st.integers(0, 2), applied=st.booleans())
    def queue_fails(self, skip: int, applied: bool) -> None:
        self.queues.faults.fail("send", "*", skip=skip, applied=applied)

    @rule(
        table=st.sampled_from(["eventrefs", "eventindex", "pushqueue", "cursors", "notifications"]),
        p=st.sampled_from(PEOPLE),
        party=st.sampled_from(["realtime", "worker"]),
    )
    def interleave(self, table: str, p: str, party: str) -> None:
        """At the next write to ``table``, another party acts on the person's calendar: a
        real-time push (a host-app request, which takes no lease) or a worker run (push, then
        pull, under the calendar's lease), meeting whatever is half-way through its work."""

        def act() -> None:
            if party == "worker" and ("worker", p) in self.running:
                return  # the calendar's lease keeps a second worker out
            if party == "worker":
                self._sync(p)
            else:
                self._realtime_push(p)

        self.tables.faults.before("write", table, act)

    @rule(
        call=st.sampled_from(["create", "update", "delete", "get"]),
        p=st.sampled_from(PEOPLE),
        party=st.sampled_from(["realtime", "worker", "host"]),
        event=st.sampled_from(EVENTS),
        people=st.sets(st.sampled_from(PEOPLE)),
    )
    def interleave_at_provider(
        self, call: str, p: str, party: str, event: str, people: set[str]
    ) -> None:
        """In the next run on the person's calendar, just before its create, update or delete
        reaches the provider (or just after a read was answered), another party acts: a
        real-time push, a worker run, or the host app changing an event (and pushing it in real
        time)."""

        def act() -> None:
            if party == "host":
                self.host_puts(event, people, 1)
            elif party == "worker" and ("worker", p) not in self.running:
                self._sync(p)
            elif party == "realtime":
                self._realtime_push(p)

        self.provider_hooks.setdefault(p, {})[call] = act

    @rule(p=st.sampled_from(PEOPLE), faults=PROVIDER_FAULTS)
    def provider_fails(self, p: str, faults: list[str]) -> None:
        self.backend.fail_next(email(p), *faults)  # type: ignore[arg-type]

    # --- invariants --------------------------------------------------------------------------

    def _feed(self) -> list[tuple[str, str, dict[str, str]]]:
        with self.tables.faults.suspended():  # the check reads as an observer
            found = self.sctx.consent.outbox.after(ORG, limit=10_000)
        return [(n.id, n.kind, n.data) for n in found]

    @invariant()
    def the_feed_never_skips_and_reports_each_fact_once(self) -> None:
        feed = self._feed()
        assert [int(i) for i, _, _ in feed] == list(range(1, len(feed) + 1)), feed
        facts = [
            (kind, d.get("app_event"), d.get("person"), d.get("provider_event_id"),
             d.get("start"), d.get("end"))
            for _, kind, d in feed
        ]  # fmt: skip
        assert len(facts) == len(set(facts)), facts
        # The receiver got ids in order: each new id is the next one, a repeat is a redelivery.
        last = 0
        for accepted in self.receiver.accepted:
            number = int(accepted)
            assert number in (last, last + 1), self.receiver.accepted
            last = number

    @invariant()
    def no_event_is_written_twice(self) -> None:
        self.steps += 1
        for p in PEOPLE:
            refs = [e.app_ref for e in self.backend.live(email(p)) if e.app_ref]
            assert len(refs) == len(set(refs)), (p, self.backend.live(email(p)))

    # --- the end: failures stop, the system settles ------------------------------------------

    def settle_and_check(self) -> None:
        self.tables.faults.clear()  # hooks not yet run included
        self.queues.faults.clear()
        for p in PEOPLE:
            self.backend.clear_faults(email(p))
        for _ in range(SETTLE_ROUNDS):
            self.worker_takes_messages()
            self.cycle()
        for _ in range(3):
            self._deliver()
            self.clock.advance(timedelta(hours=2))
        self._check_calendars()
        self._check_facts()
        # What the examples covered (pytest --hypothesis-show-statistics).
        feed = self._feed()
        record(f"notifications: {min(len(feed), 4)}{'+' if len(feed) >= 4 else ''}")
        record(f"standing deletions: {min(len(self.deleted), 2)}{'+' if self.deleted else ''}")
        record(f"standing moves: {min(len(self.moved), 2)}{'+' if self.moved else ''}")
        record(f"storage faults fired: {min(self.tables.faults.fired, 4)}")
        record(f"steps: {self.steps // 10 * 10}+")

    def _check_calendars(self) -> None:
        for p in PEOPLE:
            live = {e.app_ref: e for e in self.backend.live(email(p)) if e.app_ref}
            copies = []
            for event in EVENTS:
                app = self.events.get(ORG, event)
                wanted = app is not None and app.wants(p)
                if not wanted or (event, p) in self.deleted:
                    continue
                assert app is not None
                mapping = self.refs.get(ORG, event, p)
                assert mapping is not None and mapping.state is RefState.ACTIVE, (event, p, mapping)
                assert mapping.pushed_version == app.version, (event, p, mapping)
                (copy,) = [e for e in live.values() if e.id == mapping.provider_event_id]
                times = (copy.start.isoformat(), copy.end.isoformat())
                if (event, p) in self.moved:
                    assert times == self.moved[(event, p)], (event, p, copy)
                else:
                    assert (copy.start, copy.end) == (app.content.start, app.content.end)
                copies.append(copy.id)
            assert sorted(copies) == sorted(e.id for e in live.values()), (p, live, copies)
            assert self.markers.markers(self.refs_of[p].key) == []

    def _check_facts(self) -> None:
        feed = self._feed()
        for (event, p), provider_id in self.deleted.items():
            reports = [
                d for _, kind, d in feed
                if kind == "event_cancelled" and d.get("provider_event_id") == provider_id
            ]  # fmt: skip
            assert len(reports) == 1, ("deletion", event, p, feed)
        for (event, p), (start, end) in self.moved.items():
            reports = [
                d for _, kind, d in feed
                if kind == "event_moved" and (d.get("app_event"), d.get("person")) == (event, p)
                and (d.get("start"), d.get("end")) == (start, end)
            ]  # fmt: skip
            assert len(reports) == 1, ("move", event, p, feed)
        assert self.receiver.accepted[-1:] == [i for i, _, _ in feed][-1:]
        assert sorted(set(self.receiver.accepted)) == [i for i, _, _ in feed]


class SettlingSyncMachine(SyncMachine):
    def teardown(self) -> None:
        try:
            self.settle_and_check()
        finally:
            super().teardown()


SettlingSyncMachine.TestCase.settings = settings(
    # Bounded for `make test` (a few seconds); SYNC_MACHINE_EXAMPLES explores further.
    max_examples=int(os.environ.get("SYNC_MACHINE_EXAMPLES", "100")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_sync_engine_keeps_its_promises_under_any_interleaving = SettlingSyncMachine.TestCase
