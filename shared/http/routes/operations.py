"""Operator routes: on-demand sync, sync health, and where the host app's webhooks go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from shared.consent.attempts import FailedAttempt
from shared.consent.connections import ConnectionStatus
from shared.errors import Conflict
from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.http.flows import sync_context
from shared.http.limits import MAX_URL
from shared.http.service_views import ServiceSettingsView, service_view
from shared.storage.keys import encode_key
from shared.sync import delivery
from shared.sync.calendars import calendars_of
from shared.sync.context import SYNC_QUEUE
from shared.sync.health import integration_health, statuses

bp = ApiBlueprint("operations")


class SyncStarted(BaseModel):
    enqueued: int = Field(description="Calendars queued for a sync")


@bp.api(
    "orgs/{org}/integrations/{id}/sync",
    name="sync_integration_now",
    methods=("POST",),
    auth="admin",
    summary="Sync every calendar of the integration now (queued; answers at once)",
    response=SyncStarted,
    status=202,
)
def sync_integration_now(request: ApiRequest) -> Reply:
    sctx = sync_context(request.services)
    integration = sctx.consent.integrations.get(request.route["org"], request.route["id"])
    if not integration.is_enabled:
        raise Conflict("the integration is not enabled", code="integration_not_enabled")
    refs = calendars_of(sctx.consent, integration)
    for ref in refs:
        sctx.queues.send(SYNC_QUEUE, ref.message())
    return Reply(status=202, body=SyncStarted(enqueued=len(refs)))


class SyncHealth(BaseModel):
    integration_id: str
    calendars: int
    last_cycle_at: datetime | None = Field(description="When the 5-minute cycle last ran")
    last_cycle_calendars: int = Field(description="Calendars that cycle enqueued (all orgs)")
    failures_by_kind: dict[str, int] = Field(
        description="Calendars whose last run failed, by error code"
    )
    subscriptions_healthy: int
    subscriptions_expiring: int = Field(description="Within their renewal margin")
    subscriptions_missing: int = Field(description="None, or expired")
    calendars_behind: list[str] = Field(
        description="People whose last successful sync is older than two cycles"
    )
    poison_messages: int = Field(description="Messages in sync-calendar-poison")
    connections_needing_reconnect: int = Field(
        description="Connections whose tokens stopped working: the person must connect again"
    )
    connection_attempts_failed: int = Field(
        description="People whose last attempt to connect failed and who are not connected"
    )
    calendars_failing: int = Field(description="Calendars whose last sync run failed")
    credential: ServiceSettingsView | None = Field(
        default=None,
        description="service kind: the credential in use, its expiry and days left, and why "
        "the integration stopped when the credential was refused",
    )


@bp.api(
    "orgs/{org}/integrations/{id}/health",
    name="integration_sync_health",
    auth="admin",
    summary="Sync health: last cycle, failures, subscriptions, calendars behind",
    response=SyncHealth,
)
def integration_sync_health(request: ApiRequest) -> SyncHealth:
    sctx = sync_context(request.services)
    report = integration_health(
        sctx, request.route["org"], request.route["id"], sctx.consent.clock.now()
    )
    integration = sctx.consent.integrations.get(request.route["org"], request.route["id"])
    return SyncHealth(
        integration_id=report.integration_id,
        calendars=report.calendars,
        last_cycle_at=report.last_cycle_at,
        last_cycle_calendars=report.last_cycle_calendars,
        failures_by_kind=report.failures_by_kind,
        subscriptions_healthy=report.subscriptions_healthy,
        subscriptions_expiring=report.subscriptions_expiring,
        subscriptions_missing=report.subscriptions_missing,
        calendars_behind=report.calendars_behind,
        poison_messages=report.poison_messages,
        connections_needing_reconnect=report.connections_needing_reconnect,
        connection_attempts_failed=report.connection_attempts_failed,
        calendars_failing=report.calendars_failing,
        credential=service_view(request.services, integration),
    )


class NotificationSettingsBody(BaseModel):
    url: str = Field(
        min_length=8,
        max_length=MAX_URL,
        description="https URL for signed notifications; it must resolve to public addresses "
        "only (http and loopback only in local development); 400 invalid_webhook_url otherwise",
    )


class NotificationSettingsView(BaseModel):
    url: str | None
    updated_at: datetime | None = None
    signing_secret: str | None = Field(
        default=None,
        description="whsec_... (Standard Webhooks); returned once, by the first PUT only",
    )


@bp.api(
    "orgs/{org}/notification-settings",
    name="put_notification_settings",
    methods=("PUT",),
    auth="admin",
    summary="Set the URL notifications are delivered to as signed webhooks",
    body=NotificationSettingsBody,
    response=NotificationSettingsView,
)
def put_notification_settings(request: ApiRequest) -> NotificationSettingsView:
    body: NotificationSettingsBody = request.body
    sctx = sync_context(request.services)
    org = request.route["org"]
    settings, secret = delivery.configure(sctx, org, body.url)
    # Notifications recorded before the URL was set are delivered too (the feed has them).
    delivery.enqueue_if_pending(sctx, org)
    return NotificationSettingsView(
        url=settings.url, updated_at=settings.updated_at, signing_secret=secret
    )


@bp.api(
    "orgs/{org}/notification-settings",
    name="get_notification_settings",
    auth="admin",
    summary="The URL notifications are delivered to (the signing secret is never shown again)",
    response=NotificationSettingsView,
)
def get_notification_settings(request: ApiRequest) -> NotificationSettingsView:
    settings = delivery.get_settings(
        sync_context(request.services).consent.tables, request.route["org"]
    )
    if settings is None:
        return NotificationSettingsView(url=None)
    return NotificationSettingsView(url=settings.url, updated_at=settings.updated_at)


class SyncedPerson(BaseModel):
    person: str = Field(description="The host app's person id (the user's token subject)")
    account: str = Field(description="The calendar account the person connected ('' if none)")
    status: str = Field(
        description="connected, needs_reconnect, or not_connected (only a failed attempt)"
    )
    connected_at: datetime | None = None
    last_sync: datetime | None = Field(default=None, description="Last successful sync")
    last_error: str | None = Field(
        default=None,
        description="Code of the latest of: the last failed connection attempt, the reason the "
        "connection needs reconnecting, the calendar's failing sync (see /diagnostics/{code})",
    )
    last_error_at: datetime | None = None


class SyncedPeople(BaseModel):
    items: list[SyncedPerson]


def workspace_people(request: ApiRequest) -> SyncedPeople:
    """``GET /orgs/{org}/integrations/{id}/people`` for a workspace integration: the people who
    connected (or tried to), with their last successful sync and their latest error. The route
    itself is registered with the service integrations' view, which hands workspace
    integrations to this function."""
    sctx = sync_context(request.services)
    ctx = sctx.consent
    org = request.route["org"]
    integration = ctx.integrations.get(org, request.route["id"])
    synced = {s.calendar_key: s for s in statuses(ctx.tables, org, integration.id)}
    attempts = ctx.failed_attempts.for_integration(org, integration.id)
    items = []
    for connection in ctx.connections.for_integration(org, integration.id):
        status = synced.get(f"{integration.id}:{encode_key(connection.subject)}")
        errors: list[_Error | FailedAttempt | None] = [attempts.pop(connection.subject, None)]
        if connection.status is ConnectionStatus.NEEDS_RECONNECT and connection.last_error:
            errors.append(_Error(connection.last_error, connection.updated_at))
        if status is not None and status.last_error and status.last_failure_at is not None:
            errors.append(_Error(status.last_error, status.last_failure_at))
        latest = _latest(errors)
        items.append(
            SyncedPerson(
                person=connection.subject,
                account=connection.account,
                status=connection.status.value,
                connected_at=connection.connected_at,
                last_sync=status.last_success_at if status else None,
                last_error=latest.code if latest else None,
                last_error_at=latest.at if latest else None,
            )
        )
    # People who tried and never got connected.
    for attempt in attempts.values():
        items.append(
            SyncedPerson(
                person=attempt.subject,
                account="",
                status="not_connected",
                last_error=attempt.code,
                last_error_at=attempt.at,
            )
        )
    return SyncedPeople(items=sorted(items, key=lambda p: p.person))


@dataclass(frozen=True)
class _Error:
    code: str
    at: datetime


def _latest(errors: list[_Error | FailedAttempt | None]) -> _Error | FailedAttempt | None:
    found = [e for e in errors if e is not None]
    return max(found, key=lambda e: e.at) if found else None
