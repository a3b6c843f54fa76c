"""Change-notification subscriptions: one Graph subscription or Google channel per calendar.

Tables (see docs/sync-design.md):

* ``subscriptions``: PartitionKey = calendar key, RowKey = ``current``: provider, subscription
  or channel id, resource, resource id (Google), expires_at, notification URL, and the
  calendar's org/integration/person (so the retention purge can find and stop it);
* ``subscriptionindex``: PartitionKey = subscription or channel id, RowKey = ``""``: org and
  calendar key, so a webhook finds the calendar of a notification with one point read.

The client state (Graph ``clientState``, Google channel ``token``) is a random secret per
calendar in the secret store, named ``int-<integration>-sub-<hash of the calendar key>`` so that
erasing the integration removes it by prefix. Webhooks compare it in constant time.

Lifetimes: Graph event subscriptions have had a documented maximum of 4230 minutes
(https://learn.microsoft.com/graph/api/resources/subscription#subscription-lifetime); the
setting ``GRAPH_SUBSCRIPTION_MINUTES`` chooses it and a subscription is extended (``PATCH``)
when less than a day (at most half its lifetime) remains. Google channels cannot be extended
(https://developers.google.com/workspace/calendar/api/guides/push#renewing-notification-channels):
a new channel is opened, recorded, and only then the old one stopped.

Every provider call here runs in the sync worker, never in a webhook or the timer.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.consent.context import ConsentContext
from shared.errors import NotFound, ProviderError, ProviderNotFound
from shared.integrations.model import Integration
from shared.integrations.retention import Eraser
from shared.providers.base import CalendarClient, Subscription
from shared.settings import Settings
from shared.storage.keys import encode_key
from shared.storage.tables import Entity, FieldValue, TableStore
from shared.sync.calendars import CalendarRef, client_for

log = logging.getLogger(__name__)

SUBSCRIPTIONS = "subscriptions"
SUBSCRIPTION_INDEX = "subscriptionindex"
CURRENT = "current"
INDEX_ROW = ""

Outcome = Literal["kept", "created", "renewed", "recreated"]
Action = Literal["renew", "recreate"]


@dataclass(frozen=True)
class StoredSubscription:
    """What we keep about a calendar's live subscription (no secret)."""

    calendar_key: str
    org: str
    integration_id: str
    person: str
    provider: str
    id: str
    resource: str
    resource_id: str
    expires_at: datetime
    notification_url: str


@dataclass(frozen=True)
class IndexEntry:
    """Where a subscription's notifications belong."""

    org: str
    calendar_key: str
    integration_id: str
    resource_id: str


def lifetime(settings: Settings, provider: str) -> timedelta:
    if provider == "microsoft":
        return timedelta(minutes=settings.graph_subscription_minutes)
    return timedelta(hours=settings.google_channel_hours)


def renew_margin(settings: Settings, provider: str) -> timedelta:
    """Renew when less than this remains: a day, or half the lifetime when that is shorter."""
    return min(timedelta(days=1), lifetime(settings, provider) / 2)


def needs_renewal(
    sub: StoredSubscription, now: datetime, settings: Settings, horizon: timedelta = timedelta(0)
) -> bool:
    """Whether ``sub`` enters its renewal margin before ``now + horizon``."""
    return sub.expires_at - now < renew_margin(settings, sub.provider) + horizon


def secret_name(integration_id: str, calendar_key: str) -> str:
    digest = hashlib.sha256(calendar_key.encode()).hexdigest()[:32]
    return f"int-{integration_id}-sub-{digest}"


def client_state(ctx: ConsentContext, ref: CalendarRef) -> str:
    """The calendar's client state / channel token, created on first use."""
    name = secret_name(ref.integration_id, ref.key)
    value = ctx.secrets.get(name)
    if value is None:
        # Graph allows up to 128 characters; Google's token up to 256.
        value = secrets.token_urlsafe(48)
        ctx.secrets.set(name, value)
    return value


def lifecycle_url(ctx: ConsentContext) -> str:
    return ctx.webhook_url("microsoft") + "/lifecycle"


# --- stores ------------------------------------------------------------------------------------


def current(tables: TableStore, calendar_key: str) -> StoredSubscription | None:
    entity = tables.get(SUBSCRIPTIONS, calendar_key, CURRENT)
    return _from_entity(entity) if entity is not None else None


def lookup(tables: TableStore, subscription_id: str) -> IndexEntry | None:
    """The calendar a notification's subscription/channel id belongs to, or ``None``."""
    if not subscription_id:
        return None
    entity = tables.get(SUBSCRIPTION_INDEX, encode_key(subscription_id), INDEX_ROW)
    if entity is None:
        return None
    return IndexEntry(
        entity.get_str("org"),
        entity.get_str("calendar"),
        entity.get_str("integration_id"),
        entity.get_str("resource_id"),
    )


def of_integration(tables: TableStore, integration_id: str) -> list[StoredSubscription]:
    return [
        _from_entity(e)
        for e in tables.query(SUBSCRIPTIONS, where={"integration_id": integration_id})
    ]


def all_current(tables: TableStore) -> dict[str, StoredSubscription]:
    """Every calendar's current subscription, by calendar key (one query: the cycle's view)."""
    return {
        e.partition_key: _from_entity(e)
        for e in tables.query(SUBSCRIPTIONS)
        if e.row_key == CURRENT
    }


def _from_entity(entity: Entity) -> StoredSubscription:
    expires_at = entity.fields.get("expires_at")
    if not isinstance(expires_at, datetime):
        raise ValueError(f"subscription row {entity.partition_key} has no expiry")
    return StoredSubscription(
        calendar_key=entity.partition_key,
        org=entity.get_str("org"),
        integration_id=entity.get_str("integration_id"),
        person=entity.get_str("person"),
        provider=entity.get_str("provider"),
        id=entity.get_str("subscription_id"),
        resource=entity.get_str("resource"),
        resource_id=entity.get_str("resource_id"),
        expires_at=expires_at,
        notification_url=entity.get_str("notification_url"),
    )


def _save(tables: TableStore, ref: CalendarRef, sub: Subscription) -> StoredSubscription:
    # Index first: a notification may arrive as soon as the provider answered.
    tables.upsert(
        SUBSCRIPTION_INDEX,
        Entity(
            encode_key(sub.id),
            INDEX_ROW,
            {
                "org": ref.org,
                "calendar": ref.key,
                "integration_id": ref.integration_id,
                "resource_id": sub.resource_id,
            },
        ),
    )
    fields: dict[str, FieldValue] = {
        "org": ref.org,
        "integration_id": ref.integration_id,
        "person": ref.person,
        "provider": ref.provider,
        "subscription_id": sub.id,
        "resource": sub.resource,
        "resource_id": sub.resource_id,
        "expires_at": sub.expires_at,
        "notification_url": sub.notification_url,
    }
    tables.upsert(SUBSCRIPTIONS, Entity(ref.key, CURRENT, fields))
    stored = current(tables, ref.key)
    assert stored is not None
    return stored


def _forget(tables: TableStore, sub: StoredSubscription) -> None:
    tables.delete(SUBSCRIPTION_INDEX, encode_key(sub.id), INDEX_ROW)
    entity = tables.get(SUBSCRIPTIONS, sub.calendar_key, CURRENT)
    if entity is not None and entity.get_str("subscription_id") == sub.id:
        tables.delete(SUBSCRIPTIONS, sub.calendar_key, CURRENT, etag=entity.etag)


def _provider_view(ctx: ConsentContext, ref: CalendarRef, sub: StoredSubscription) -> Subscription:
    return Subscription(
        id=sub.id,
        expires_at=sub.expires_at,
        resource=sub.resource,
        resource_id=sub.resource_id,
        notification_url=sub.notification_url,
        client_state=client_state(ctx, ref),
    )


# --- lifecycle ---------------------------------------------------------------------------------


def create(ctx: ConsentContext, ref: CalendarRef, client: CalendarClient) -> StoredSubscription:
    """Open a new subscription/channel for ``ref`` and record it (the previous row, if any, is
    replaced; its index entry is removed by the caller)."""
    now = ctx.clock.now()
    sub = client.subscribe(
        notification_url=ctx.webhook_url(ref.provider),
        client_state=client_state(ctx, ref),
        expires_at=now + lifetime(ctx.settings, ref.provider),
        lifecycle_url=lifecycle_url(ctx) if ref.provider == "microsoft" else None,
        channel_id=uuid.uuid4().hex if ref.provider == "google" else None,
    )
    stored = _save(ctx.tables, ref, sub)
    log.info("subscription %s created for calendar %s", sub.id, ref.key)
    return stored


def renew(
    ctx: ConsentContext, ref: CalendarRef, client: CalendarClient, sub: StoredSubscription
) -> tuple[StoredSubscription, Outcome]:
    """Extend a Graph subscription, or replace a Google channel (new one first, old one
    stopped after the new one is recorded). A Graph subscription the provider no longer knows
    is created again."""
    now = ctx.clock.now()
    expires_at = now + lifetime(ctx.settings, ref.provider)
    if ref.provider == "microsoft":
        try:
            renewed = client.renew(_provider_view(ctx, ref, sub), expires_at)
        except ProviderNotFound:
            _forget(ctx.tables, sub)
            return create(ctx, ref, client), "recreated"
        return _save(ctx.tables, ref, renewed), "renewed"
    fresh = create(ctx, ref, client)
    ctx.tables.delete(SUBSCRIPTION_INDEX, encode_key(sub.id), INDEX_ROW)
    _stop(client, _provider_view(ctx, ref, sub))
    return fresh, "renewed"


def ensure(
    ctx: ConsentContext, ref: CalendarRef, client: CalendarClient, action: Action | None = None
) -> Outcome:
    """Make sure ``ref`` has a live subscription (the worker calls this on every run).

    ``action``: ``renew`` extends now (Graph ``reauthorizationRequired``, or the cycle saw the
    expiry coming); ``recreate`` forgets the current one and opens a new one (Graph
    ``subscriptionRemoved``). Without an action a missing or expired subscription is created
    and one within its renewal margin is renewed.
    """
    now = ctx.clock.now()
    existing = current(ctx.tables, ref.key)
    if existing is not None and action == "recreate":
        # The provider removed it already; stopping it again is harmless and covers the case
        # where it did not.
        _stop(client, _provider_view(ctx, ref, existing))
        _forget(ctx.tables, existing)
        create(ctx, ref, client)
        return "recreated"
    if existing is None or existing.expires_at <= now:
        if existing is not None:
            _forget(ctx.tables, existing)
        create(ctx, ref, client)
        return "created"
    if action == "renew" or needs_renewal(existing, now, ctx.settings):
        return renew(ctx, ref, client, existing)[1]
    return "kept"


def _stop(client: CalendarClient, sub: Subscription) -> None:
    try:
        client.unsubscribe(sub)
    except ProviderError as exc:
        # Best effort: an unstopped subscription expires on its own, and its notifications no
        # longer match our index, so they are ignored.
        log.warning("stopping subscription %s failed: %s", sub.id, exc.code)


def remove(ctx: ConsentContext, ref: CalendarRef, client: CalendarClient | None) -> bool:
    """Stop ``ref``'s subscription at the provider (best effort, when a client is given) and
    forget it with its client state. ``False`` when there was none."""
    existing = current(ctx.tables, ref.key)
    if existing is None:
        return False
    if client is not None:
        _stop(client, _provider_view(ctx, ref, existing))
    _forget(ctx.tables, existing)
    ctx.secrets.delete(secret_name(ref.integration_id, ref.key))
    return True


def eraser(ctx: ConsentContext) -> Eraser:
    """The retention purge's eraser: stop every subscription of an integration at the provider
    (best effort, while its tokens still exist) and delete the rows. Returns rows deleted."""

    def erase(integration: Integration) -> int:
        deleted = 0
        for sub in of_integration(ctx.tables, integration.id):
            ref = CalendarRef(sub.org, sub.integration_id, sub.provider, sub.person)
            try:
                client = client_for(ctx, ref)
            except (NotFound, ProviderError) as exc:
                log.info("no client to stop subscription %s: %s", sub.id, exc)
                client = None
            try:
                remove(ctx, ref, client)
            finally:
                if client is not None:
                    client.close()
            deleted += 2
        return deleted

    return erase
