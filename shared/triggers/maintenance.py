"""Maintenance timers.

``consent_purge`` (hourly) first deletes host-app notifications (and their de-duplication keys)
older than ``NOTIFICATION_RETENTION_DAYS``, then erases integrations whose consent retention (5
days after disabling) has passed, and OAuth states that expired unused. Both are idempotent and
resumable, so an hourly schedule bounds how long data outlives its retention to one hour. The
notification purge goes first: it only touches Table storage, so a provider failing during an
erasure cannot keep the feed from being pruned. Last, service integrations' upkeep: warnings
before a credential expires (30, 7 and 1 days) and the daily re-match of people.
"""

import logging

import azure.functions as func
from azure.functions.timer import TimerRequest

from shared.http.flows import notification_retention, retention, service_integrations
from shared.observability.logs import correlation
from shared.services import get_services

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.function_name("consent_purge")
@bp.timer_trigger(schedule="0 0 * * * *", arg_name="timer", run_on_startup=False)
def consent_purge(timer: TimerRequest) -> None:
    with correlation():
        services = get_services()
        pruned = notification_retention(services).run()
        log.info(
            "notification purge: %d notifications, %d de-duplication keys before %s",
            pruned.notifications_deleted,
            pruned.dedupe_keys_deleted,
            pruned.cutoff.isoformat(),
        )
        report = retention(services).run()
        log.info(
            "consent purge: %d integrations erased, %d secrets, %d rows, %d expired states%s",
            len(report.erased),
            report.secrets_deleted,
            report.rows_deleted,
            report.expired_states,
            " (timer was past due)" if timer.past_due else "",
        )
        upkept = service_integrations(services).upkeep()
        log.info("service integrations looked after: %d", upkept)
