"""The 5-minute cycle: fan out packed sync messages; never call a provider.

``sync_cycle`` (NCRONTAB ``0 */5 * * * *``) calls :func:`run_cycle`. Each enabled
integration's calendars are packed, ``SYNC_CALENDARS_PER_MESSAGE`` of one organisation per
message (the worker pushes what failed before, pulls changes and ensures the subscription). A
calendar that an earlier cycle's message still holds (:mod:`shared.sync.batches`) is not
enqueued again, so a backlog does not grow. A calendar whose subscription or channel would
enter its renewal margin before the next cycle (plus a margin for a late or skipped run) is
listed in the message's ``"renew"``, so the renewal happens in the worker, under the lease.
Organisations with a webhook URL and undelivered notifications (whose retry time has come) get a
delivery pass. Only Table and Queue storage are touched here.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.sync import batches, delivery, health, subscriptions
from shared.sync.calendars import CalendarRef, all_calendars
from shared.sync.context import SYNC_QUEUE, SyncContext
from shared.sync.worker import BatchMessage, report_sync_failing

log = logging.getLogger(__name__)

FAN_OUT_THREADS = 16

# Renew what would enter its renewal margin before the next cycle, with room for one late run.
RENEWAL_HORIZON = 2 * health.CYCLE_INTERVAL + timedelta(minutes=5)


@dataclass
class CycleReport:
    at: datetime
    calendars: int = 0  # enqueued by this cycle
    messages: int = 0
    pending: int = 0  # skipped: an earlier cycle's message still holds them
    renewals: int = 0
    deliveries: int = 0
    stalled: int = 0  # calendars newly reported sync_failing for not syncing in time
    orgs: set[str] = field(default_factory=set)


def _report_overdue(
    sctx: SyncContext, refs: list[CalendarRef], now: datetime, running_since: datetime
) -> int:
    """Report ``sync_failing`` for calendars with no successful sync for the bound, whatever
    the reason: a worker that hangs or crashes records no failed run, so only a check outside
    the worker sees them. One status query per organisation; a calendar without a status row
    gets one (its clock starts now)."""
    ctx = sctx.consent
    bound = timedelta(minutes=ctx.settings.sync_failing_after_minutes)
    by_org: dict[str, list[CalendarRef]] = {}
    for ref in refs:
        by_org.setdefault(ref.org, []).append(ref)
    reported = 0
    for org, org_refs in by_org.items():
        known = health.org_statuses(ctx.tables, org)
        for ref in org_refs:
            st = known.get(ref.key)
            if st is None:
                health.note_seen(ctx.tables, org, ref.key, now)
            elif not st.failing_reported and st.overdue(now, bound, running_since):
                report_sync_failing(sctx, ref, st.last_error or health.SYNC_STALLED, st)
                reported += 1
    return reported


def run_cycle(sctx: SyncContext, now: datetime) -> CycleReport:
    """Enqueue this cycle's work and record it for the health view.

    The subscriptions and pending batches are read in one query each, the calendars packed and
    the messages sent from a small thread pool: 10,000 calendars are 200 messages.
    """
    ctx = sctx.consent
    report = CycleReport(now)
    current = subscriptions.all_current(ctx.tables)
    held, stale = batches.pending(ctx.tables, now)
    batches.forget_stale(ctx.tables, stale)
    by_org: dict[str, list[str]] = {}
    renew: set[str] = set()
    refs = list(all_calendars(ctx))
    for ref in refs:
        report.orgs.add(ref.org)
        if ref.key in held:
            report.pending += 1
            continue
        sub = current.get(ref.key)
        if (
            sub is not None
            and sub.expires_at > now
            and subscriptions.needs_renewal(sub, now, ctx.settings, RENEWAL_HORIZON)
        ):
            renew.add(ref.key)
            report.renewals += 1
        by_org.setdefault(ref.org, []).append(ref.key)
    size = ctx.settings.sync_calendars_per_message
    messages = [
        BatchMessage(
            org,
            batches.new_batch_id(now),
            tuple(keys[i : i + size]),
            frozenset(k for k in keys[i : i + size] if k in renew),
        )
        for org, keys in by_org.items()
        for i in range(0, len(keys), size)
    ]

    def send(message: BatchMessage) -> None:
        # The row first: a worker must never finish a message whose row comes after it.
        batches.record(ctx.tables, message.org, message.batch, list(message.calendars), now)
        try:
            sctx.queues.send(SYNC_QUEUE, message.body())
        except Exception:
            batches.done(ctx.tables, message.org, message.batch)
            raise

    with ThreadPoolExecutor(max_workers=FAN_OUT_THREADS, thread_name_prefix="fan-out") as pool:
        # list() re-raises the first failed send: the cycle is then retried by the next run.
        list(pool.map(send, messages))
    report.calendars = sum(len(m.calendars) for m in messages)
    report.messages = len(messages)
    for org in delivery.configured_orgs(ctx.tables):
        if delivery.enqueue_if_pending(sctx, org):
            report.deliveries += 1
    running_since = health.cycles_running_since(ctx.tables, now)
    report.stalled = _report_overdue(sctx, refs, now, running_since)
    health.record_cycle(
        ctx.tables, now, report.calendars + report.pending, report.renewals, running_since
    )
    log.info(
        "sync cycle: %d calendars of %d organisations enqueued in %d messages (%d still "
        "pending), %d renewals, %d delivery passes",
        report.calendars,
        len(report.orgs),
        report.messages,
        report.pending,
        report.renewals,
        report.deliveries,
    )
    return report
