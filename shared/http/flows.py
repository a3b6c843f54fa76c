"""The core objects the HTTP functions call, built once per process from the services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.consent.callbacks import Callbacks
from shared.consent.connect import ConnectFlow
from shared.consent.connections import Connection
from shared.consent.context import ConsentContext
from shared.consent.testflow import TestFlow
from shared.integrations.model import Integration
from shared.integrations.retention import RetentionPurge
from shared.notifications.retention import NotificationRetention
from shared.services import Services

if TYPE_CHECKING:
    from shared.service.manager import ServiceIntegrations
    from shared.sync.context import SyncContext


def _context(services: Services) -> ConsentContext:
    from shared.providers.factory import SettingsProviderKit

    return ConsentContext(
        settings=services.settings,
        tables=services.tables,
        secrets=services.secrets,
        clock=services.clock,
        kit=SettingsProviderKit(services.settings),
    )


def consent_context(services: Services) -> ConsentContext:
    return services.built("consent_context", _context)


def consent_test_flow(services: Services) -> TestFlow:
    return services.built("consent_test_flow", lambda s: TestFlow(consent_context(s)))


def connect_flow(services: Services) -> ConnectFlow:
    def build(s: Services) -> ConnectFlow:
        from shared.sync.calendars import CalendarRef
        from shared.sync.context import SYNC_QUEUE
        from shared.sync.disconnect import forget_calendar

        ctx = consent_context(s)

        def first_sync(integration: Integration, connection: Connection) -> None:
            # The new calendar's first sync (subscription, pushes waiting for this person, the
            # first pull) right after connecting, instead of at the next 5-minute cycle.
            ref = CalendarRef(
                integration.org, integration.id, integration.provider.value, connection.subject
            )
            s.queues.send(SYNC_QUEUE, ref.message())

        return ConnectFlow(
            ctx,
            before_disconnect=[lambda i, c: forget_calendar(ctx, i, c)],
            after_connect=[first_sync],
        )

    return services.built("connect_flow", build)


def sync_context(services: Services) -> SyncContext:
    """The sync engine's context (consent context + queues), built once per process."""
    from shared.sync.context import SyncContext

    return services.built("sync_context", lambda s: SyncContext(consent_context(s), s.queues))


def callbacks(services: Services) -> Callbacks:
    return services.built("callbacks", lambda s: Callbacks(consent_context(s), connect_flow(s)))


def service_integrations(services: Services) -> ServiceIntegrations:
    """Service (app-only) integrations: create, check, rotate, people, built once per process."""
    from shared.service.manager import ServiceIntegrations

    return services.built(
        "service_integrations",
        lambda s: ServiceIntegrations(consent_context(s), lambda: s.queues),
    )


def retention(services: Services) -> RetentionPurge:
    from shared.service.erase import eraser as service_eraser
    from shared.sync.subscriptions import eraser

    # The service eraser runs first: it stops subscriptions with the integration's credential
    # (it knows each person's mailbox) before the generic eraser forgets what is left.
    return services.built(
        "retention",
        lambda s: RetentionPurge(
            consent_context(s),
            erasers=[service_eraser(consent_context(s)), eraser(consent_context(s))],
        ),
    )


def notification_retention(services: Services) -> NotificationRetention:
    """The notification feed's purge (``NOTIFICATION_RETENTION_DAYS``), built once per process."""
    return services.built(
        "notification_retention",
        lambda s: NotificationRetention(s.tables, s.clock, s.settings.notification_retention_days),
    )
