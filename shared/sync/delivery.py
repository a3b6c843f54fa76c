"""Signed outbound webhooks: the notification feed delivered to the host app's URL.

An organisation configures one URL (``PUT /orgs/{org}/notification-settings``); the signing
secret is generated then, kept in the secret store (``org-<org>-webhook-secret``) and shown once.
Notifications are delivered as Standard Webhooks (https://www.standardwebhooks.com/, spec
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):

* headers ``webhook-id`` (the notification id: receivers de-duplicate by it),
  ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256>``
  over ``<id>.<timestamp>.<body>``, keyed with the base64-decoded part of ``whsec_<base64>``;
* body ``{"type": kind, "timestamp": ISO 8601, "data": {...}}``.

Delivery is in order per organisation: one deliverer at a time (a lease on ``delivery:<org>``)
walks the outbox after the organisation's delivery cursor (the last delivered id, table
``webhooksettings`` row ``cursor``) and advances it after each 2xx. A failure stops the walk and
schedules a retry through the ``notify-host-app`` queue with exponential backoff; the cycle
re-enqueues organisations whose retry time has come, so a lost message only delays delivery.

One deliverer, even when one is slow or stalls:

* the lease lasts ``LEASE_TTL`` and is renewed (ETag-guarded) before every POST; ``LEASE_TTL``
  is longer than the longest a POST can take (``TIMEOUT`` per phase), so a live deliverer never
  loses it, and one that lost it (stalled past its expiry, and another took over) stops before
  sending anything more;
* the cursor is written with its ETag (inserted the first time), and never to an id below the
  stored one: a deliverer whose view is stale cannot move it backwards;
* a pass is bounded (``PASS_LIMIT`` notifications, ``PASS_BUDGET`` of time); what is left is
  handed to a new message on the queue, so no invocation outlives the Functions timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.errors import AlreadyExists, ConcurrencyConflict, NotFound
from shared.hosting import loopback_allowed
from shared.net import outbound
from shared.notifications.outbox import Notification
from shared.storage.keys import encode_key
from shared.storage.tables import Entity, FieldValue, TableStore
from shared.sync.context import DELIVERY_QUEUE, SyncContext
from shared.sync.leases import Lease, Leases

log = logging.getLogger(__name__)

WEBHOOK_SETTINGS = "webhooksettings"
SETTINGS_ROW = "settings"
CURSOR_ROW = "cursor"
SECRET_PREFIX = "whsec_"
TIMEOUT_SECONDS = 10.0
# Connect, write, read and pool each get TIMEOUT_SECONDS: a POST takes at most four of them.
TIMEOUT = httpx.Timeout(TIMEOUT_SECONDS)
BATCH = 50
# One pass sends at most this many notifications, for at most this long, then queues the rest.
PASS_LIMIT = 200
PASS_BUDGET = timedelta(minutes=2)
# Seconds before retry n (1-based); the last one repeats. Standard Webhooks suggests an
# exponential schedule ending in hours; a day of retries is about 30 attempts at the cap.
BACKOFF = (5, 30, 120, 600, 1800, 3600)
# Renewed before every POST; covers one POST's worst case (4 x TIMEOUT_SECONDS) with room.
LEASE_TTL = timedelta(seconds=90)


# --- signing -----------------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret in the Standard Webhooks format: ``whsec_`` + base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value (``v1,<base64>``) for one delivery."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def payload(notification: Notification) -> bytes:
    """The JSON body for a notification (references only, as stored in the outbox)."""
    body = {
        "type": notification.kind,
        "timestamp": notification.at.isoformat().replace("+00:00", "Z"),
        "data": {"id": notification.id, "org": notification.org, **notification.data},
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


# --- settings ----------------------------------------------------------------------------------


def secret_name(org: str) -> str:
    return f"org-{encode_key(org)}-webhook-secret"


def check_url(url: str) -> str:
    """Accept https URLs to public addresses, http only to loopback in local development
    (:mod:`shared.net.outbound`); a name that does not resolve yet is checked at send time."""
    outbound.check(url, allow_loopback=loopback_allowed(), require_resolution=False)
    return url


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    updated_at: datetime


def get_settings(tables: TableStore, org: str) -> WebhookSettings | None:
    entity = tables.get(WEBHOOK_SETTINGS, encode_key(org), SETTINGS_ROW)
    if entity is None or not entity.get_str("url"):
        return None
    updated = entity.fields.get("updated_at")
    if not isinstance(updated, datetime):
        updated = datetime.min.replace(tzinfo=UTC)
    return WebhookSettings(entity.get_str("url"), updated)


def configure(sctx: SyncContext, org: str, url: str) -> tuple[WebhookSettings, str | None]:
    """Set the organisation's URL. Returns the settings and, the first time only, the new
    signing secret (shown once; later calls return ``None`` and keep the secret)."""
    ctx = sctx.consent
    check_url(url)
    now = ctx.clock.now()
    created: str | None = None
    if ctx.secrets.get(secret_name(org)) is None:
        created = new_secret()
        ctx.secrets.set(secret_name(org), created)
    ctx.tables.upsert(
        WEBHOOK_SETTINGS,
        Entity(encode_key(org), SETTINGS_ROW, {"url": url, "org": org, "updated_at": now}),
    )
    return WebhookSettings(url, now), created


# --- the cursor --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    last_id: str | None
    failures: int
    next_attempt_at: datetime | None
    etag: str | None


def cursor(tables: TableStore, org: str) -> Cursor:
    entity = tables.get(WEBHOOK_SETTINGS, encode_key(org), CURSOR_ROW)
    if entity is None:
        return Cursor(None, 0, None, None)
    failures = entity.fields.get("failures")
    nxt = entity.fields.get("next_attempt_at")
    return Cursor(
        entity.get_str("last_id") or None,
        failures if isinstance(failures, int) else 0,
        nxt if isinstance(nxt, datetime) else None,
        entity.etag,
    )


def _save_cursor(
    tables: TableStore, org: str, at: Cursor, fields: dict[str, FieldValue]
) -> Cursor | None:
    """Write the cursor over ``at`` (the version this deliverer read or wrote last).

    Returns the new cursor, or ``None`` when the stored one changed meanwhile (another
    deliverer moved it): the caller stops and writes nothing more.
    """
    new_last = fields.get("last_id")
    if isinstance(new_last, str) and at.last_id and new_last < at.last_id:
        raise ValueError("the delivery cursor never moves backwards")
    entity = Entity(encode_key(org), CURSOR_ROW, fields, at.etag)
    try:
        if at.etag is None:
            stored = tables.insert(WEBHOOK_SETTINGS, entity)
        else:
            stored = tables.update(WEBHOOK_SETTINGS, entity)
    except (AlreadyExists, ConcurrencyConflict, NotFound):
        return None
    failures = fields.get("failures")
    nxt = fields.get("next_attempt_at")
    return Cursor(
        new_last if isinstance(new_last, str) and new_last else None,
        failures if isinstance(failures, int) else 0,
        nxt if isinstance(nxt, datetime) else None,
        stored.etag,
    )


# --- delivering --------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: bool = False
    skipped: str = ""  # why nothing was attempted: "no_url", "busy", "waiting"
    retry_in: int = 0
    lost_lease: bool = False  # another pass took over: this one stopped


def has_pending(sctx: SyncContext, org: str) -> bool:
    """Whether ``org`` has a URL, undelivered notifications, and no retry pending."""
    ctx = sctx.consent
    if get_settings(ctx.tables, org) is None:
        return False
    at = cursor(ctx.tables, org)
    if at.next_attempt_at is not None and at.next_attempt_at > ctx.clock.now():
        return False
    return bool(ctx.outbox.after(org, at.last_id, limit=1))


def enqueue_if_pending(sctx: SyncContext, org: str) -> bool:
    """Ask for a delivery pass when ``org`` has something to deliver now."""
    if not has_pending(sctx, org):
        return False
    sctx.queues.send(DELIVERY_QUEUE, {"org": org})
    return True


def configured_orgs(tables: TableStore) -> list[str]:
    return [
        e.get_str("org")
        for e in tables.query(WEBHOOK_SETTINGS)
        if e.row_key == SETTINGS_ROW and e.get_str("url")
    ]


def deliver(
    sctx: SyncContext,
    org: str,
    http: httpx.Client | None = None,
    resolve: outbound.Resolver = outbound.system_resolver,
) -> DeliveryReport:
    """Deliver ``org``'s undelivered notifications in order (the ``notify-host-app`` worker).

    ``resolve`` is how the webhook's host name becomes addresses (the system resolver; tests
    stand a public address in for a name that does not exist)."""
    ctx = sctx.consent
    report = DeliveryReport()
    settings = get_settings(ctx.tables, org)
    secret = ctx.secrets.get(secret_name(org))
    if settings is None or secret is None:
        report.skipped = "no_url"
        return report
    now = ctx.clock.now()
    start = cursor(ctx.tables, org)
    if start.next_attempt_at is not None and start.next_attempt_at > now:
        report.skipped = "waiting"  # the scheduled retry message will come
        return report
    leases = Leases(ctx.tables, ctx.clock)
    lease = leases.acquire(f"delivery:{encode_key(org)}", uuid.uuid4().hex, LEASE_TTL)
    if lease is None:
        # Another pass is walking the outbox; look again shortly for what it may not see.
        sctx.queues.send(DELIVERY_QUEUE, {"org": org}, delay_seconds=5)
        report.skipped = "busy"
        return report
    own = http is None
    client = http or outbound.client(TIMEOUT)
    walk = _Walk(sctx, org, settings.url, secret, client, report, leases, lease, resolve=resolve)
    try:
        walk.run()
    finally:
        if own:
            client.close()
        leases.release(walk.lease)
    if walk.more:
        # The pass reached its bound with notifications left: a new message continues.
        sctx.queues.send(DELIVERY_QUEUE, {"org": org})
    return report


@dataclass
class _Walk:
    """One bounded delivery pass under a renewed lease."""

    sctx: SyncContext
    org: str
    url: str
    secret: str
    client: httpx.Client
    report: DeliveryReport
    leases: Leases
    lease: Lease
    more: bool = False
    resolve: outbound.Resolver = outbound.system_resolver

    def run(self) -> None:
        ctx = self.sctx.consent
        at = cursor(ctx.tables, self.org)
        started = ctx.clock.now()
        sent = 0
        while True:
            batch = ctx.outbox.after(self.org, at.last_id, limit=BATCH)
            if not batch:
                return
            for notification in batch:
                if sent >= PASS_LIMIT or ctx.clock.now() - started >= PASS_BUDGET:
                    self.more = True
                    return
                renewed = self.leases.renew(self.lease, LEASE_TTL)
                if renewed is None:
                    log.warning("delivery to %s's webhook: lease lost, pass stopped", self.org)
                    self.report.lost_lease = True
                    return
                self.lease = renewed
                error = _post(
                    ctx.clock.now(), self.client, self.url, self.secret, notification, self.resolve
                )
                sent += 1
                if error is not None:
                    self._failed(at, error)
                    return
                moved = _save_cursor(
                    ctx.tables, self.org, at, {"last_id": notification.id, "failures": 0}
                )
                if moved is None:
                    log.warning("delivery to %s's webhook: cursor moved by another pass", self.org)
                    self.report.lost_lease = True
                    return
                at = moved
                self.report.delivered += 1

    def _failed(self, at: Cursor, error: str) -> None:
        ctx = self.sctx.consent
        failures = at.failures + 1
        delay = BACKOFF[min(failures, len(BACKOFF)) - 1]
        self.report.failed, self.report.retry_in = True, delay
        saved = _save_cursor(
            ctx.tables,
            self.org,
            at,
            {
                "last_id": at.last_id or "",
                "failures": failures,
                "next_attempt_at": ctx.clock.now() + timedelta(seconds=delay),
                "last_error": error,
            },
        )
        if saved is None:
            return  # another pass owns the cursor now; it schedules its own retries
        self.sctx.queues.send(DELIVERY_QUEUE, {"org": self.org}, delay_seconds=delay)
        log.warning(
            "delivering notifications to %s's webhook failed (%s); retry %d in %d s",
            self.org,
            error,
            failures,
            delay,
        )


def _post(
    now: datetime,
    client: httpx.Client,
    url: str,
    secret: str,
    notification: Notification,
    resolve: outbound.Resolver,
) -> str | None:
    """POST one notification; ``None`` on 2xx, else a short error description."""
    body = payload(notification)
    timestamp = int(now.timestamp())
    headers: dict[str, Any] = {
        "content-type": "application/json",
        "webhook-id": notification.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, notification.id, timestamp, body),
    }
    try:
        # Resolved and checked again at every connection (DNS rebinding), no redirects.
        response = outbound.post(
            client,
            url,
            content=body,
            headers=headers,
            allow_loopback=loopback_allowed(),
            resolve=resolve,
        )
    except outbound.RefusedUrl:
        return "webhook_address_refused"
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"
