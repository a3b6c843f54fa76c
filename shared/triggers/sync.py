"""Sync engine triggers: the 5-minute cycle, the per-calendar worker, host-app delivery.

Thin wiring only: parse the message, call the core, log the outcome. A core function raises
only for unexpected errors; the exception then lets the Functions host retry the message up to
``maxDequeueCount`` (host.json) and finally move it to ``<queue>-poison``.

(No ``from __future__ import annotations`` here: the Functions worker binds trigger parameters
by their real annotation types, as in ``shared/triggers/maintenance.py``.)
"""

import json
import logging

import azure.functions as func
from azure.functions.timer import TimerRequest

from shared.http.flows import sync_context
from shared.observability import metrics
from shared.observability.logs import correlation
from shared.services import get_services
from shared.sync.context import DELIVERY_QUEUE, SYNC_QUEUE

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.function_name("sync_cycle")
@bp.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
def sync_cycle(timer: TimerRequest) -> None:
    from shared.sync.cycle import run_cycle

    with correlation():
        sctx = sync_context(get_services())
        report = run_cycle(sctx, sctx.consent.clock.now())
        metrics.sample_queues(sctx.queues, (SYNC_QUEUE, DELIVERY_QUEUE))
        if timer.past_due:
            log.info("sync cycle ran late (%d calendars)", report.calendars)


@bp.function_name("sync_worker")
@bp.queue_trigger(arg_name="msg", queue_name=SYNC_QUEUE, connection="AzureWebJobsStorage")
def sync_worker(msg: func.QueueMessage) -> None:
    from shared.sync.worker import parse_message, run_message

    with correlation():
        try:
            message = parse_message(json.loads(msg.get_body() or b"{}"))
        except ValueError as exc:
            # A malformed message can never succeed: drop it rather than poison the queue.
            log.error("sync message %s dropped: %s", msg.id, exc)
            return
        summary = run_message(sync_context(get_services()), message)
        log.info("sync message %s: %s", msg.id, summary)


@bp.function_name("deliver_notifications")
@bp.queue_trigger(arg_name="msg", queue_name=DELIVERY_QUEUE, connection="AzureWebJobsStorage")
def deliver_notifications(msg: func.QueueMessage) -> None:
    from shared.sync.delivery import deliver

    with correlation():
        try:
            body = json.loads(msg.get_body() or b"{}")
            org = body["org"] if isinstance(body, dict) else None
        except (ValueError, KeyError):
            org = None
        if not isinstance(org, str) or not org:
            log.error("delivery message %s dropped: no org", msg.id)
            return
        report = deliver(sync_context(get_services()), org)
        log.info(
            "notifications for %s: %d delivered%s",
            org,
            report.delivered,
            f" ({report.skipped})" if report.skipped else "",
        )
