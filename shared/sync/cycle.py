"""The 5-minute cycle: fan out one sync message per calendar; never call a provider.

``sync_cycle`` (NCRONTAB ``0 */5 * * * *``) calls :func:`run_cycle`. Each enabled
integration's calendars get a sync message (the worker pushes what failed before, pulls changes
and ensures the subscription). A calendar whose subscription or channel would enter its renewal
margin before the next cycle (plus a margin for a late or skipped run) gets ``"action":
"renew"`` on its message, so the renewal happens in the worker, under the calendar's lease.
Organisations with a webhook URL and undelivered notifications (whose retry time has come) get a
delivery pass. Only Table and Queue storage are touched here.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.sync import delivery, health, subscriptions
from shared.sync.calendars import all_calendars
from shared.sync.context import SYNC_QUEUE, SyncContext

log = logging.getLogger(__name__)

FAN_OUT_THREADS = 16

# Renew what would enter its renewal margin before the next cycle, with room for one late run.
RENEWAL_HORIZON = 2 * health.CYCLE_INTERVAL + timedelta(minutes=5)


@dataclass
class CycleReport:
    at: datetime
    calendars: int = 0
    renewals: int = 0
    deliveries: int = 0
    orgs: set[str] = field(default_factory=set)


def run_cycle(sctx: SyncContext, now: datetime) -> CycleReport:
    """Enqueue this cycle's work and record it for the health view.

    The subscriptions are read in one query and the messages sent from a small thread pool:
    queue sends are independent round trips, and sending them one after another made the
    fan-out of 10,000 calendars take minutes of the 5-minute cycle.
    """
    ctx = sctx.consent
    report = CycleReport(now)
    current = subscriptions.all_current(ctx.tables)
    messages: list[dict[str, Any]] = []
    for ref in all_calendars(ctx):
        message: dict[str, Any] = ref.message()
        sub = current.get(ref.key)
        if (
            sub is not None
            and sub.expires_at > now
            and subscriptions.needs_renewal(sub, now, ctx.settings, RENEWAL_HORIZON)
        ):
            message["action"] = "renew"
            report.renewals += 1
        messages.append(message)
        report.orgs.add(ref.org)
    with ThreadPoolExecutor(max_workers=FAN_OUT_THREADS, thread_name_prefix="fan-out") as pool:
        # list() re-raises the first failed send: the cycle is then retried by the next run.
        list(pool.map(lambda m: sctx.queues.send(SYNC_QUEUE, m), messages))
    report.calendars = len(messages)
    for org in delivery.configured_orgs(ctx.tables):
        if delivery.enqueue_if_pending(sctx, org):
            report.deliveries += 1
    health.record_cycle(ctx.tables, now, report.calendars, report.renewals)
    log.info(
        "sync cycle: %d calendars of %d organisations enqueued, %d renewals, %d delivery passes",
        report.calendars,
        len(report.orgs),
        report.renewals,
        report.deliveries,
    )
    return report
