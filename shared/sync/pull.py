"""Pull: bring one calendar's changes back, page by page, from its stored cursor.

``pull_calendar`` loops ``CalendarClient.changes`` (Graph ``calendarView/delta``, Google's sync
protocol) and saves the cursor after every page, so a worker killed mid-pull resumes where it
stopped; replaying a page is harmless because every action is a keyed upsert or delete, and the
mapping remembers what was already reported to the host app.

Each change is either one of **our** events (its provider id is in ``eventindex`` for this
calendar, or the adapter found our ``app_ref`` marker on it), judged by
:func:`shared.sync.pull_judge.judge` and reported to the host app's feed (moved, cancelled,
declined by the person, room answered); or an **external** event, kept as a busy interval only
(start, end, free/busy status), or forgotten when removed, cancelled or free.

Full listings (the first pull, an expired cursor, a window that drifted by a day) get a new
``round`` id; busy rows not seen again by the time the listing completes are swept. That is how an
invalidated delta/sync token leads to a full resync without duplicates and without a moment in
which availability is empty.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.errors import ConcurrencyConflict, CursorExpired, NotFound, ProviderError
from shared.providers.base import CalendarClient, Change
from shared.storage.keys import decode_key
from shared.sync.busy import BusyStore
from shared.sync.calendars import CalendarRef
from shared.sync.context import SyncContext
from shared.sync.cursors import CursorState, CursorStore
from shared.sync.pull_judge import (
    EVENTINDEX,
    EVENTREFS,
    OurEvent,
    Verdict,
    judge,
    load_ours,
    owner_email,
)
from shared.sync.pull_series import apply_occurrence

log = logging.getLogger(__name__)

# Graph encodes the window in its delta tokens: a delta started more than this long ago no longer
# covers today's window and is replaced by a new full listing once its round is done.
WINDOW_DRIFT = timedelta(days=1)
UPDATE_ATTEMPTS = 5


@dataclass
class PullReport:
    """What one pull did (counts only)."""

    calendar: str
    pages: int = 0
    changes: int = 0
    ours: int = 0
    echoes: int = 0
    busy_upserts: int = 0
    busy_removals: int = 0
    notifications: int = 0
    full_resync: bool = False
    complete: bool = False
    kinds: list[str] = field(default_factory=list)


def sync_window(ctx: SyncContext, now: datetime) -> tuple[datetime, datetime]:
    """The rolling window (``SYNC_WINDOW_DAYS_BACK``/``_AHEAD``), whole days in UTC."""
    settings = ctx.consent.settings
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        midnight - timedelta(days=settings.sync_window_days_back),
        midnight + timedelta(days=settings.sync_window_days_ahead + 1),
    )


def _begin_full(state: CursorState, start: datetime, end: datetime) -> None:
    state.cursor = None
    state.complete = False
    state.full = True
    state.round = uuid.uuid4().hex
    state.window_start, state.window_end = start, end


def pull_calendar(
    sctx: SyncContext,
    ref: CalendarRef,
    client: CalendarClient,
    *,
    page_size: int = 100,
    max_pages: int | None = None,
    on_page: Callable[[], None] | None = None,
    owner: str | None = None,
) -> PullReport:
    """Pull ``ref``'s changes with ``client`` until the round is complete.

    Args:
        sctx: the sync context (tables, clock, settings, outbox).
        ref: the calendar; ``ref.key`` partitions the cursor, busy rows and our event index.
        client: a calendar client for ``ref`` (the caller closes it).
        page_size: items per provider page.
        max_pages: stop after this many pages with the cursor saved (``report.complete`` is
            then ``False``): bounds the time one invocation spends; the next pull resumes.
        on_page: called after each page that did not end the round, its cursor saved (the
            worker renews its lease there); what it raises ends the pull.
        owner: the calendar owner's address when the caller knows it (the connected account);
            read otherwise (:func:`owner_email`).

    Raises provider errors (``Throttled``, ``ProviderUnavailable``, ``ReconnectNeeded``, ...)
    after recording ``last_error``: the cursor stays at the last page fully processed.
    ``CursorExpired`` is handled here (one full resync per pull); ``ConcurrencyConflict``
    means another pull of the same calendar moved the cursor (the lease should prevent it).
    """
    ctx = sctx.consent
    now = ctx.clock.now()
    start, end = sync_window(sctx, now)
    cursors, busy = CursorStore(ctx.tables), BusyStore(ctx.tables)
    state = cursors.get(ref.key) or CursorState(ref.key)
    report = PullReport(ref.key)
    if state.cursor is None:
        _begin_full(state, start, end)
    elif state.complete and (
        state.window_start is None or start - state.window_start >= WINDOW_DRIFT
    ):
        log.info("calendar %s: window moved, starting a new full listing", ref.key)
        _begin_full(state, start, end)
    owner = owner if owner is not None else owner_email(sctx, ref)
    state.last_sync_at = now
    listed: set[str] = set()  # ids on this invocation's pages of a full listing
    try:
        while True:
            window_start, window_end = state.window_start or start, state.window_end or end
            try:
                page = client.changes(state.cursor, window_start, window_end, page_size)
            except CursorExpired:
                if report.full_resync:
                    raise
                # Graph 410 SyncStateNotFound / Google 410 fullSyncRequired: start over.
                log.info("calendar %s: cursor expired, full resync", ref.key)
                report.full_resync = True
                _begin_full(state, start, end)
                continue
            # Read after the page: the real-time push takes no lease, so an event it created
            # while this pull ran (indexed before its mapping was written) may already be on
            # the page, even as removed by the person; a list read before would miss it and
            # take that change for someone else's event.
            index = _our_ids(sctx, ref) if page.changes else set()
            for change in page.changes:
                _apply(sctx, ref, client, change, state, index, owner, report, busy)
                if state.full:
                    listed.update(i for i in (change.id, change.series_id) if i)
            report.pages += 1
            report.changes += len(page.changes)
            state.cursor, state.complete = page.cursor, page.complete
            if page.complete:
                if state.full:
                    report.busy_removals += busy.sweep(ref.key, state.round)
                    _judge_unlisted(sctx, ref, client, listed, owner, report)
                    state.full = False
                state.last_success_at, state.last_error = now, None
                cursors.save(state)
                report.complete = True
                return report
            cursors.save(state)
            if max_pages is not None and report.pages >= max_pages:
                return report
            if on_page is not None:
                on_page()
    except ProviderError as exc:
        _record_error(cursors, ref.key, exc.code)
        raise


def _judge_unlisted(
    sctx: SyncContext,
    ref: CalendarRef,
    client: CalendarClient,
    listed: set[str],
    owner: str,
    report: PullReport,
) -> None:
    """At the end of a full listing, judge each of our events it did not list, as it is now.

    A full listing (Graph's initial ``calendarView/delta`` round, Google's ``events.list``
    without a sync token and without ``showDeleted``) lists the events that exist: a deletion
    the person made after the last incremental page (the window moved, the cursor expired) is
    on no page, and no later incremental page reports it either. Our events it did not list are
    read one by one: deleted ones are judged as removed (reported once and respected), others
    (outside the window, or created by a push while the listing ran) as they are. Ids listed
    in an earlier invocation of the same round are read again too: harmless, as is every
    replayed judgement. Rows no longer active (the person's deletion already seen, our own
    delete under way) are not read: there is nothing of theirs to judge.
    """
    for event_id in sorted(_our_ids(sctx, ref) - listed):
        ours = load_ours(sctx, ref, event_id)
        if ours is None or ours.state != "active" or ours.provider_event_id not in ("", event_id):
            continue
        report.ours += 1
        if not _apply_ours(sctx, ref, client, Change(id=event_id, removed=True), owner, report):
            report.echoes += 1


def _our_ids(sctx: SyncContext, ref: CalendarRef) -> set[str]:
    """The provider ids of our events in ``ref``'s calendar (``eventindex``)."""
    return {decode_key(e.row_key) for e in sctx.consent.tables.query(EVENTINDEX, ref.key)}


def _record_error(cursors: CursorStore, calendar: str, code: str) -> None:
    # Keep the cursor of the last completed page: read the stored row again rather than saving
    # the in-memory state, which may hold a page that was not processed.
    stored = cursors.get(calendar)
    if stored is None:
        return
    stored.last_error = code
    try:
        cursors.save(stored)
    except (ConcurrencyConflict, NotFound):
        log.warning("calendar %s: could not record the pull error %s", calendar, code)


def _apply(
    sctx: SyncContext,
    ref: CalendarRef,
    client: CalendarClient,
    change: Change,
    state: CursorState,
    index: set[str],
    owner: str,
    report: PullReport,
    busy: BusyStore,
) -> None:
    indexed = change.id in index
    if change.series_id and change.series_id in index:
        # An occurrence of one of our series: the host app's own event, never busy time; a
        # person's move or deletion of it is reported naming the occurrence.
        report.ours += 1
        if busy.remove(ref.key, change.id):
            report.busy_removals += 1
        sent = apply_occurrence(sctx, ref, change)
        report.notifications += sent
        return
    if change.instances is not None and not (indexed or change.app_ref):
        # A recurring event itself: its occurrences came as changes of their own; those it
        # no longer has in the window (ended early, rule changed, deleted) are dropped.
        report.busy_removals += busy.sweep_series(ref.key, change.id, change.instances)
        return
    if indexed or change.app_ref:
        report.ours += 1
        if not _apply_ours(sctx, ref, client, change, owner, report):
            report.echoes += 1
        # One of ours never counts as busy: availability takes the host app's own events.
        if busy.remove(ref.key, change.id):
            report.busy_removals += 1
        return
    if change.removed or change.is_cancelled or change.show_as == "free":
        if busy.remove(ref.key, change.id):
            report.busy_removals += 1
        elif change.removed and not change.series_id and ref.provider == "google":
            # No interval of its own: it may be a deleted recurring event, which Google
            # reports by id alone (status cancelled); its occurrences go with it. Graph's
            # delta reports each occurrence as removed instead.
            report.busy_removals += busy.sweep_series(ref.key, change.id, ())
        return
    if change.start is None or change.end is None:
        return
    # Google's incremental rounds are not bound to the window (a sync token cannot be combined
    # with timeMin/timeMax): keep only what falls inside it.
    outside = (state.window_start is not None and change.end <= state.window_start) or (
        state.window_end is not None and change.start >= state.window_end
    )
    if outside:
        if busy.remove(ref.key, change.id):
            report.busy_removals += 1
        return
    busy.put(
        ref.key,
        change.id,
        change.start,
        change.end,
        change.show_as,
        state.round,
        series=change.series_id,
        time_zone=change.time_zone,
    )
    report.busy_upserts += 1


def _apply_ours(
    sctx: SyncContext,
    ref: CalendarRef,
    client: CalendarClient,
    change: Change,
    owner: str,
    report: PullReport,
) -> bool:
    """Judge one change of our own event; ``False`` when there was nothing new (an echo).

    The event is judged as it is now, not as the page saw it: a page can be older than our
    latest write, and Graph's ``@removed`` also means "moved out of the window" (event-delta
    docs). The real-time push takes no lease, so it may write the event while we read it: the
    picture is loaded before and after the read, and a read that a push (a new host-app version
    or a mapping write) straddled is done again, since it may show the host app's previous times
    or content, which must not be reported as the person's move.
    """
    before = load_ours(sctx, ref, change.id)
    if before is None or (change.change_key and change.change_key == before.change_key):
        return False
    sent: set[str] = set()
    for _ in range(UPDATE_ATTEMPTS):
        current = _live(client, change)
        ours = load_ours(sctx, ref, change.id)
        if ours is None:
            return bool(sent)
        if (ours.etag, ours.app_version) != (before.etag, before.app_version):
            before = ours
            continue
        verdict = judge(current, ours, owner)
        _notify(sctx, ref, ours, verdict, sent, report, current.change_key)
        if not verdict.updates:
            return bool(verdict.notifications)
        try:
            _save_updates(sctx, ours, verdict)
            return True
        except ConcurrencyConflict:
            # The push path wrote the mapping meanwhile: read and judge again.
            fresh = load_ours(sctx, ref, change.id)
            if fresh is None:
                return bool(sent)
            before = fresh
        except NotFound:
            return bool(sent)
    raise ConcurrencyConflict(f"mapping of {ref.key} event kept changing")


def _live(client: CalendarClient, change: Change) -> Change:
    current = client.get_event(change.id)
    if current is None:
        return Change(id=change.id, removed=True)
    return Change(
        id=change.id,
        start=current.start,
        end=current.end,
        show_as=current.show_as,
        is_cancelled=current.is_cancelled,
        change_key=current.change_key,
        app_ref=current.app_ref,
        attendees=current.attendees,
    )


def notification_key(kind: str, app_event: str, person: str, data: dict[str, str]) -> str:
    """What makes two notifications the same fact (see ``Outbox.append``'s ``dedupe_key``).

    A cancellation is one fact per provider event; a move, per new time; an answer, per
    change of the event that carried it.
    """
    parts = [app_event, person, data.get("provider_event_id", "")]
    if kind == "event_moved":
        parts += [data.get("start", ""), data.get("end", "")]
    elif kind != "event_cancelled":
        parts += [data.get("change_key", "")]
    return "|".join(parts)


def _notify(
    sctx: SyncContext,
    ref: CalendarRef,
    ours: OurEvent,
    verdict: Verdict,
    sent: set[str],
    report: PullReport,
    change_key: str = "",
) -> None:
    for kind, data in verdict.notifications:
        if kind in sent:
            continue
        payload = {
            "app_event": ours.app_event,
            "person": ours.person,
            "integration_id": ref.integration_id,
            "provider": ref.provider,
            **data,
        }
        key = notification_key(
            kind, ours.app_event, ours.person, {**data, "change_key": change_key}
        )
        if sctx.consent.outbox.append(ours.org, kind, payload, dedupe_key=key) is None:
            sent.add(kind)
            continue
        sent.add(kind)
        report.notifications += 1
        report.kinds.append(kind)


def _save_updates(sctx: SyncContext, ours: OurEvent, verdict: Verdict) -> None:
    entity = sctx.consent.tables.get(EVENTREFS, ours.refs_partition, ours.refs_row)
    if entity is None:
        raise NotFound("the mapping is gone")
    if entity.etag != ours.etag:
        raise ConcurrencyConflict("the mapping changed since it was judged")
    entity.fields.update(verdict.updates)
    entity.fields["updated_at"] = sctx.consent.clock.now()
    sctx.consent.tables.update(EVENTREFS, entity)


__all__ = ["PullReport", "pull_calendar", "sync_window"]
