"""Push: host-app events into people's calendars, planned by a pure function, then acted on.

vdirsyncer's shape (docs/sync-design.md): :func:`shared.sync.push_plan.plan` compares what the
host app wants for one person with the mapping row and decides one action; the executor here
(:func:`push_calendar`, :func:`push_event_now`) performs it, writes the mapping only after the
provider accepted the write, and removes the push marker last. The rules the planner encodes
(idempotent creates, unknown create outcomes, the host app owning its events' time and title,
deletions in the calendar respected, deletes that count "already gone" as done) are described
in :mod:`shared.sync.push_plan`.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from shared.consent.context import ConsentContext
from shared.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    NotFound,
    PreconditionFailed,
    ProviderDenied,
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
    ReconnectNeeded,
    Throttled,
)
from shared.providers.base import Attendee, CalendarClient, EventDraft
from shared.storage.keys import join_key
from shared.sync.appevents import AppEvent, AppEvents
from shared.sync.calendars import CalendarRef, calendars_of, client_for
from shared.sync.context import SYNC_QUEUE, SyncContext
from shared.sync.mappings import (
    EventIndex,
    EventRef,
    EventRefs,
    IndexEntry,
    Marker,
    PushQueue,
    RefState,
    person_partition,
)
from shared.sync.pull import notification_key
from shared.sync.push_plan import Action, ActionKind, Attempt, Desired, plan

# --- executor ----------------------------------------------------------------------------------

log = logging.getLogger(__name__)

_ROUNDS = 3  # re-plans after a concurrent writer changed the marker or the mapping
_INLINE_WORKERS = 8  # calendars pushed in parallel within one request
UNAVAILABLE_DELAY_SECONDS = 30  # visibility delay of a sync message after a 5xx/timeout
RACE_DELAY_SECONDS = 5  # after losing a write race: the worker settles it under the lease
# Faults that concern the whole calendar (or provider): the worker re-enqueues or reports them.
_CALENDAR_FAULTS = (Throttled, ProviderUnavailable, ReconnectNeeded, ProviderDenied)


class Outcome(StrEnum):
    SYNCED = "synced"
    QUEUED = "queued"
    NO_CALENDAR = "no_calendar"
    FAILED = "failed"


@dataclass(frozen=True)
class PushResult:
    app_event: str
    person: str
    action: ActionKind
    provider_event_id: str = ""
    gone: bool = False  # the person had deleted the event: not re-created for this version


@dataclass
class PushReport:
    calendar: str
    results: list[PushResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # app event -> error code
    left: int = 0  # markers still pending when done (failed, or changed concurrently)
    raced: int = 0  # pushes that lost a write race at the provider (412 after a re-read)


@dataclass(frozen=True)
class PersonOutcome:
    person: str
    status: Outcome
    action: str = ""  # created, updated, deleted, unchanged, gone
    provider: str = ""
    provider_event_id: str = ""
    delay_seconds: int | None = None
    error: str = ""


_VERBS = {
    ActionKind.CREATE: "created",
    ActionKind.UPDATE: "updated",
    ActionKind.DELETE: "deleted",
    ActionKind.RECLAIM: "deleted",
    ActionKind.FORGET: "unchanged",
    ActionKind.NOOP: "unchanged",
}


class _Executor:
    """Performs planned actions for one calendar; safe to share between threads."""

    def __init__(self, sctx: SyncContext) -> None:
        self.sctx = sctx
        self.ctx = sctx.consent
        self.events = AppEvents(self.ctx.tables)
        self.refs = EventRefs(self.ctx.tables)
        self.index = EventIndex(self.ctx.tables)
        self.queue = PushQueue(self.ctx.tables)

    def push_marker(
        self, ref: CalendarRef, marker: Marker, client: Callable[[], CalendarClient]
    ) -> PushResult | None:
        """Plan and act for one marker. ``None``: a concurrent writer changed the marker or
        the mapping meanwhile (the provider writes are idempotent); read and plan again."""
        event = self.events.get(marker.org, marker.app_event)
        if event is None:  # erased with the organisation's data: nothing is owed any more
            self.queue.done(marker)
            return PushResult(marker.app_event, ref.person, ActionKind.FORGET)
        desired = Desired(
            event.org, event.id, ref.person, ref.key, event.version, event.wants(ref.person)
        )
        mapping = self.refs.get(event.org, event.id, ref.person)
        attempt = (
            Attempt(marker.creating_key, marker.creating_generation)
            if marker.creating_key
            else None
        )
        action = plan(desired, mapping, attempt)
        try:
            marker, provider_id, gone = self._act(ref, event, mapping, marker, action, client)
        except (ConcurrencyConflict, AlreadyExists, NotFound):
            return None
        if not self.queue.done(marker):
            return None
        return PushResult(event.id, ref.person, action.kind, provider_id, gone)

    def _act(
        self,
        ref: CalendarRef,
        event: AppEvent,
        mapping: EventRef | None,
        marker: Marker,
        action: Action,
        client: Callable[[], CalendarClient],
    ) -> tuple[Marker, str, bool]:
        now = self.ctx.clock.now()
        kind = action.kind
        if kind is ActionKind.CREATE:
            marker = self.queue.note_create(marker, action.key, action.generation)
            draft, slot = self._draft(ref, event, action.key)
            written = client().create_event(draft)
            if action.refresh:
                # An earlier attempt with this key may have landed with older content. Not
                # blindly: another run repeating the same create may have recorded the event
                # meanwhile (and the person may have moved it since: that must stand), or a
                # push of a newer version may be writing it (the key answers it too). Either
                # changed a row first; then plan again. The change key we were answered
                # guards the write itself.
                fresh = self.refs.get(event.org, event.id, ref.person)
                latest = self.events.get(event.org, event.id)
                if (fresh.etag if fresh else None) != (mapping.etag if mapping else None):
                    self._abandon_create(client(), event, ref, mapping, written.id)
                    raise ConcurrencyConflict("the mapping was recorded meanwhile")
                if latest is None or latest.version != event.version:
                    self._abandon_create(client(), event, ref, mapping, written.id)
                    raise ConcurrencyConflict("a newer version arrived meanwhile")
                written = client().update_event(
                    written.id, draft, if_match=written.change_key or None
                )
            self._occurrences(client(), written.id, event, draft)
            # The index before the mapping: once the mapping says the event is in the calendar
            # (and the person may delete it), a pull must recognise every change of it as ours.
            self.index.put(IndexEntry(ref.key, written.id, event.org, event.id, ref.person))
            try:
                self.refs.save(
                    EventRef(
                        event.org, event.id, ref.person, ref.key, ref.provider, RefState.ACTIVE,
                        event.version, action.generation, written.id, written.change_key,
                        written.ical_uid, room_response="pending" if slot else "", slot=slot,
                        updated_at=now, etag=None if mapping is None else mapping.etag,
                    )
                )  # fmt: skip
            except (AlreadyExists, ConcurrencyConflict):
                self._abandon_create(client(), event, ref, mapping, written.id)
                raise
            if mapping is not None and mapping.provider_event_id not in ("", written.id):
                self.index.delete(mapping.calendar, mapping.provider_event_id)
            return marker, written.id, False
        if kind is ActionKind.UPDATE and mapping is not None:
            draft, slot = self._draft(ref, event, "")
            try:
                written = self._update(
                    client(), ref.provider, mapping, draft, action.if_match, event
                )
                self._occurrences(client(), written.id, event, draft)
            except ProviderNotFound:
                # Whose deletion is it? A push that takes no lease (the real-time one) may have
                # deleted it since we planned (the host app unassigned the person): its row no
                # longer reads as our plan's did, or the host app's version moved on. Plan again
                # from what is stored now; only an unchanged picture means the person did it.
                fresh = self.refs.get(event.org, event.id, ref.person)
                latest = self.events.get(event.org, event.id)
                if fresh is None or fresh.etag != mapping.etag:
                    raise ConcurrencyConflict("the mapping changed since the plan") from None
                if latest is None or latest.version != event.version:
                    raise ConcurrencyConflict("a newer version arrived meanwhile") from None
                # The person deleted it: respected until the host app changes the event again.
                # Tell the host app (the pull path, if it sees the removal too, sends the
                # same notification key, so the host app hears it once).
                self._tell_cancelled(ref, event, action.provider_event_id)
                self.refs.save(
                    replace(
                        mapping, state=RefState.GONE, pushed_version=event.version,
                        room_response="", updated_at=now,
                    )
                )  # fmt: skip
                return marker, "", True
            answer = mapping.room_response if slot == mapping.slot and slot else "pending"
            self.refs.save(
                replace(
                    mapping, state=RefState.ACTIVE, change_key=written.change_key,
                    pushed_version=event.version, room_response=answer if slot else "",
                    slot=slot, updated_at=now,
                )
            )  # fmt: skip
            return marker, written.id, False
        if kind is ActionKind.DELETE and mapping is not None:
            if mapping.state is not RefState.DELETING:
                # The intent first: if the answer is lost, the row says the delete was ours.
                mapping = self.refs.save(replace(mapping, state=RefState.DELETING, updated_at=now))
            client().delete_event(action.provider_event_id)  # already gone counts as done
            self._tombstone(mapping, event, mapping.generation, now)
            self.index.delete(mapping.calendar, action.provider_event_id)
            if event.wants(ref.person):
                # A delete finished before the person was assigned again (see the planner):
                # the marker's work is not done; the next plan creates with the next key.
                raise NotFound("an unfinished delete was finished; plan again")
            return marker, "", False
        if kind is ActionKind.RECLAIM:
            # No attendees: if the earlier attempt never landed, nobody is invited to the
            # short-lived event; if it did, deleting it cancels the invitations it sent.
            draft, _ = self._draft(ref, event, action.key, attendees=False)
            orphan = client().create_event(draft)
            # The key may answer another writer too: a push of a newer version that wants the
            # event again (the host app assigned the person back) creates with the same key
            # and records the very event we were answered. The row claims the event as ours
            # and being deleted before the delete is sent, with the plan's ETag: if that
            # writer recorded it first, the claim fails and the event stays (we plan again);
            # if the claim wins, that writer's record fails and it plans again from ours. As
            # for any delete, the intent first: if the answer is lost, the row says the
            # delete was ours, and the pull does not take the removal for the person's.
            self.index.put(IndexEntry(ref.key, orphan.id, event.org, event.id, ref.person))
            base = mapping or EventRef(
                event.org, event.id, ref.person, ref.key, ref.provider, RefState.DELETED, 0
            )
            claim = replace(
                base, calendar=ref.key, state=RefState.DELETING, pushed_version=event.version,
                generation=action.generation, provider_event_id=orphan.id,
                change_key=orphan.change_key, ical_uid=orphan.ical_uid, room_response="",
                person_response="", slot="", updated_at=now,
            )  # fmt: skip
            try:
                claim = self.refs.save(claim)
            except (AlreadyExists, ConcurrencyConflict):
                self._abandon_create(client(), event, ref, mapping, orphan.id)
                raise
            client().delete_event(orphan.id)  # already gone counts as done
            self._tombstone(claim, event, action.generation, now)
            self.index.delete(ref.key, orphan.id)
            return marker, "", False
        live = mapping is not None and mapping.live and mapping.calendar == ref.key
        return marker, mapping.provider_event_id if live and mapping else "", False

    def _abandon_create(
        self,
        client: CalendarClient,
        event: AppEvent,
        ref: CalendarRef,
        planned: EventRef | None,
        written_id: str,
    ) -> None:
        """Our create (or a reclaim's) landed but we do not record it: another writer changed
        the mapping or the host app's version meanwhile. While the mapping is still the one we
        planned from, the next plan uses the same key, which answers this very event (a
        refresh or a reclaim takes it): it stays. Once another writer changed the mapping,
        unless it recorded this very event, nothing records it: e.g. the host app unassigned
        the person while the create was in flight and the reclaim deleted what the key had
        created before ours landed (Graph then answers a repeated ``transactionId`` with a new
        event), and the next plan uses the next generation's key. No later plan would know of
        it: delete it now."""
        current = self.refs.get(event.org, event.id, ref.person)
        if (current.etag if current else None) == (planned.etag if planned else None):
            return
        if current is not None and current.live and current.provider_event_id == written_id:
            return
        log.info("a create raced another writer of its mapping; its event is deleted")
        client.delete_event(written_id)  # already gone counts as done
        self.index.delete(ref.key, written_id)

    def _tell_cancelled(self, ref: CalendarRef, event: AppEvent, provider_event_id: str) -> None:
        data = {"provider_event_id": provider_event_id}
        self.ctx.outbox.append(
            event.org,
            "event_cancelled",
            {
                "app_event": event.id,
                "person": ref.person,
                "integration_id": ref.integration_id,
                "provider": ref.provider,
                **data,
            },
            dedupe_key=notification_key("event_cancelled", event.id, ref.person, data),
        )

    def _tombstone(self, mapping: EventRef, event: AppEvent, generation: int, now: Any) -> None:
        self.refs.save(
            replace(
                mapping, state=RefState.DELETED, pushed_version=event.version,
                generation=generation, provider_event_id="", change_key="", ical_uid="",
                room_response="", person_response="", slot="", updated_at=now,
            )
        )  # fmt: skip

    def _update(
        self, client: CalendarClient, provider: str, mapping: EventRef, draft: EventDraft,
        if_match: str, event: AppEvent,
    ) -> Any:  # fmt: skip
        event_id = mapping.provider_event_id
        try:
            return client.update_event(event_id, draft, if_match=if_match or None)
        except PreconditionFailed:
            # If another writer changed the mapping since we planned (a concurrent push wrote
            # this version, or the pull recorded the person's edit), our change key was stale
            # for that reason: an edit made after that write must not be overwritten by this
            # plan. Plan again from the fresh row.
            fresh = self.refs.get(mapping.org, mapping.app_event, mapping.person)
            if fresh is None or fresh.etag != mapping.etag:
                raise ConcurrencyConflict("the mapping changed since the plan") from None
            # Otherwise the person edited the event in their calendar. The host app owns its
            # events' time and title: re-read (gone -> ProviderNotFound) and apply its version
            # on top of the current change key, never blindly.
            current = client.get_event(event_id)
            if current is None:
                raise ProviderNotFound(
                    "the event was deleted in the calendar", provider=provider
                ) from None
            # Or a push of a newer version (the real-time push takes no lease) has written the
            # calendar and not yet its mapping: then what we read is the host app's newer
            # version, and our draft must not go over it. The host app's row is written before
            # any push of that version reads it, so it tells: read after the event, a version
            # past ours means plan again from the newest one.
            latest = self.events.get(event.org, event.id)
            if latest is None or latest.version != event.version:
                raise ConcurrencyConflict("a newer version is being pushed") from None
            log.info("event edited in the calendar; the host app's version is applied")
            return client.update_event(event_id, draft, if_match=current.change_key or None)

    def _occurrences(
        self, client: CalendarClient, series_id: str, event: AppEvent, draft: EventDraft
    ) -> None:
        """The host app's changes of single occurrences, as the provider's own operations
        (an exception, a cancelled occurrence), after every write of the series: both are
        idempotent, and a provider may reset exceptions when the series itself changes."""
        if not event.content.recurrence:
            return
        for change in event.content.occurrences:
            if change.start is None or change.end is None:
                client.cancel_occurrence(series_id, change.original_start)
                continue
            try:
                client.update_occurrence(
                    series_id,
                    change.original_start,
                    replace(draft, start=change.start, end=change.end, recurrence=None),
                )
            except ProviderNotFound:
                # The person deleted that occurrence: their deletion stands (the pull reports
                # it); the rest of the series is still written.
                log.info("an occurrence the host app changed was deleted in the calendar")

    def _draft(
        self, ref: CalendarRef, event: AppEvent, key: str, *, attendees: bool = True
    ) -> tuple[EventDraft, str]:
        """The draft for ``ref``'s calendar and the slot digest ("" without a paired room)."""
        c = event.content
        room = self.ctx.rooms.get(event.org, c.room) if c.room else None
        if room is None or room.integration_id != ref.integration_id:
            room = None  # unpaired, or paired with another suite: no resource attendee
        invited = (Attendee(room.email, room.name, kind="resource"),) if room and attendees else ()
        draft = EventDraft(
            key=key,
            app_ref=join_key(event.org, event.id),
            subject=c.subject,
            start=c.start,
            end=c.end,
            body=c.body,
            location=c.location or (room.name if room else ""),
            attendees=invited,
            time_zone=c.time_zone,
            recurrence=c.recurrence,
            all_day=c.all_day,
        )
        slot = ""
        if room is not None:
            raw = f"{c.start.isoformat()}|{c.end.isoformat()}|{room.email.lower()}"
            if c.recurrence:
                raw += f"|{c.recurrence}|{c.time_zone}"
            slot = hashlib.sha256(raw.encode()).hexdigest()[:16]
        return draft, slot


def push_calendar(sctx: SyncContext, ref: CalendarRef, client: CalendarClient) -> PushReport:
    """Process every push marker of ``ref``'s calendar (and of its person, from before the
    calendar was connected). ``Throttled``, ``ProviderUnavailable``, ``ReconnectNeeded`` and
    ``ProviderDenied`` propagate (the worker re-enqueues or reports); another provider error
    fails that event only, whose marker stays for the next run."""
    ex = _Executor(sctx)
    report = PushReport(ref.key)
    partitions = (ref.key, person_partition(ref.org, ref.person))
    for _ in range(_ROUNDS):
        markers = [
            m for p in partitions for m in ex.queue.markers(p) if m.app_event not in report.failed
        ]
        if not markers:
            break
        for marker in markers:
            try:
                result = ex.push_marker(ref, marker, lambda: client)
            except _CALENDAR_FAULTS:
                raise
            except ProviderError as exc:
                log.warning("push of an event to %s failed: %s", ref.key, exc.code)
                report.failed[marker.app_event] = exc.code
                report.raced += isinstance(exc, PreconditionFailed)
                continue
            if result is not None:
                report.results.append(result)
    # Nothing was found in the first round: nothing is left (no second read of the partitions).
    if report.results or report.failed:
        report.left = sum(len(ex.queue.markers(p)) for p in partitions)
    return report


def calendars_by_person(ctx: ConsentContext, org: str) -> dict[str, CalendarRef]:
    """Each connected person's calendar under the organisation's enabled integrations."""
    return {
        ref.person: ref
        for integration in ctx.integrations.for_org(org)
        for ref in calendars_of(ctx, integration)
    }


def push_event_now(sctx: SyncContext, org: str, app_event: str) -> list[PersonOutcome]:
    """Mark and push one host-app event to every affected person's calendar, in real time.

    Markers are written first for everyone (durable: if this invocation dies the cycle finishes
    the work). The pushes run in parallel for at most ``PUSH_INLINE_DEADLINE_SECONDS``: a person
    not done by then is ``queued`` with a sync message (the worker pushes from the marker), so
    a request to many people answers within its deadline. A slow or throttling provider turns
    the person's outcome into ``queued`` with a
    sync message delayed by ``Retry-After``; a person without a connected calendar is
    ``no_calendar`` and their marker waits in their person partition for their connection.
    """
    ex = _Executor(sctx)
    event = ex.events.get(org, app_event)
    if event is None:
        raise NotFound(f"event {app_event} does not exist", code="event_not_found")
    calendars = calendars_by_person(sctx.consent, org)
    for person in event.affected:
        ref = calendars.get(person)
        partition = ref.key if ref is not None else person_partition(org, person)
        ex.queue.mark(partition, org, app_event, event.version)
    clock = sctx.consent.clock
    deadline = clock.now() + timedelta(seconds=sctx.consent.settings.push_inline_deadline_seconds)

    def person_outcome(person: str) -> PersonOutcome | None:
        ref = calendars.get(person)
        if ref is not None and clock.now() >= deadline:
            return None  # not started in time: queued for the worker below
        return _push_person(ex, ref, person, event)

    workers = max(1, min(_INLINE_WORKERS, len(event.affected)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push")
    try:
        futures = [pool.submit(person_outcome, person) for person in event.affected]
        wait(futures, timeout=max(0.0, (deadline - clock.now()).total_seconds()))
    finally:
        # Pushes still running go on in the background and finish (their markers make a
        # second writer harmless); the ones not started are cancelled.
        pool.shutdown(wait=False, cancel_futures=True)
    outcomes: list[PersonOutcome] = []
    for person, future in zip(event.affected, futures, strict=True):
        done = future.done() and not future.cancelled()
        outcome = future.result() if done else None
        if outcome is None:
            ref = calendars.get(person)
            outcome = (
                _queued(ex, ref, person, 0)
                if ref is not None
                else PersonOutcome(person, Outcome.NO_CALENDAR)
            )
        outcomes.append(outcome)
    return outcomes


def _push_person(
    ex: _Executor, ref: CalendarRef | None, person: str, event: AppEvent
) -> PersonOutcome:
    if ref is None:
        return PersonOutcome(person, Outcome.NO_CALENDAR)
    opened: list[CalendarClient] = []

    def client() -> CalendarClient:
        # Opened only when the plan needs the provider: an unassigned person whose calendar
        # holds nothing costs table reads only.
        if not opened:
            opened.append(client_for(ex.ctx, ref))
        return opened[0]

    try:
        result: PushResult | None = None
        for _ in range(_ROUNDS):
            marker = ex.queue.get(ref.key, event.org, event.id)
            if marker is None:
                break  # a concurrent push finished it
            result = ex.push_marker(ref, marker, client)
            if result is not None:
                break
        else:
            return _queued(ex, ref, person, 0)
        mapping = ex.refs.get(event.org, event.id, person)
        live = mapping is not None and mapping.live and mapping.calendar == ref.key
        action = "unchanged" if result is None else _VERBS[result.action]
        return PersonOutcome(
            person,
            Outcome.SYNCED,
            action="gone" if result is not None and result.gone else action,
            provider=ref.provider,
            provider_event_id=mapping.provider_event_id if live and mapping else "",
        )
    except Throttled as exc:
        return _queued(ex, ref, person, max(1, math.ceil(exc.retry_after)))
    except ProviderUnavailable:
        return _queued(ex, ref, person, UNAVAILABLE_DELAY_SECONDS)
    except PreconditionFailed:
        # Another writer (a worker, a concurrent request) changed the event twice under us:
        # the worker re-plans under the calendar's lease in a moment, not at the next cycle.
        return _queued(ex, ref, person, RACE_DELAY_SECONDS)
    except ProviderError as exc:
        # Denied, reconnect needed, refused: the marker stays and the cycle retries it.
        log.warning("push to %s failed: %s", ref.key, exc.code)
        return PersonOutcome(person, Outcome.FAILED, provider=ref.provider, error=exc.code)
    except NotFound:  # the connection went away meanwhile
        return PersonOutcome(person, Outcome.NO_CALENDAR)
    finally:
        for c in opened:
            c.close()


def _queued(ex: _Executor, ref: CalendarRef, person: str, delay: int) -> PersonOutcome:
    # Retry-After becomes the message's visibility delay: never a sleep in this invocation.
    ex.sctx.queues.send(SYNC_QUEUE, ref.message(), delay_seconds=delay)
    return PersonOutcome(person, Outcome.QUEUED, provider=ref.provider, delay_seconds=delay)
