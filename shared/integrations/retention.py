"""Consent retention: erase integrations whose 5 days after disabling have passed.

The ``consent_purge`` timer calls :meth:`RetentionPurge.run`. Erasing an integration removes,
in this order (so that a crash part-way leaves the integration row, and the next run finishes):

1. what the provider holds for us (subscriptions, channels), best effort, by the registered
   erasers of other modules (the sync engine registers its subscriptions and event references);
2. every secret whose name starts with the integration's prefix (tokens, the test grant,
   subscription client states): deleted, and purged where the store supports it;
3. the connection rows and the test-run record;
4. the integration row and its history.

It also removes OAuth states that expired unused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from shared.consent.connections import integration_secret_prefix
from shared.consent.context import ConsentContext
from shared.integrations.model import Integration

log = logging.getLogger(__name__)

Eraser = Callable[[Integration], int]


@dataclass
class PurgeReport:
    erased: list[str] = field(default_factory=list)
    secrets_deleted: int = 0
    rows_deleted: int = 0
    expired_states: int = 0


class RetentionPurge:
    def __init__(self, ctx: ConsentContext, erasers: list[Eraser] | None = None) -> None:
        self.ctx = ctx
        self.erasers = list(erasers or [])

    def run(self, now: datetime | None = None) -> PurgeReport:
        now = now or self.ctx.clock.now()
        report = PurgeReport()
        for integration in self.ctx.integrations.list_all():
            if integration.retention_over(now):
                self.erase(integration, report)
        report.expired_states = self.ctx.states.purge_expired(now)
        return report

    def erase(self, integration: Integration, report: PurgeReport | None = None) -> PurgeReport:
        """Remove everything of ``integration``, the record included."""
        ctx = self.ctx
        report = report or PurgeReport()
        for eraser in self.erasers:
            report.rows_deleted += eraser(integration)
        for name in list(ctx.secrets.names(integration_secret_prefix(integration.id))):
            ctx.secrets.delete(name)
            report.secrets_deleted += 1
        report.rows_deleted += ctx.connections.erase_integration(integration.org, integration.id)
        attempts = ctx.failed_attempts
        report.rows_deleted += attempts.erase_integration(integration.org, integration.id)
        report.rows_deleted += int(ctx.testruns.erase_integration(integration.org, integration.id))
        ctx.integrations.delete(integration)
        report.erased.append(integration.id)
        log.info(
            "erased integration %s of %s: %d secrets, %d rows",
            integration.id,
            integration.org,
            report.secrets_deleted,
            report.rows_deleted,
        )
        return report
