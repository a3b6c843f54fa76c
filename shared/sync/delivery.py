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
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.errors import BadRequest
from shared.notifications.outbox import Notification
from shared.storage.keys import encode_key
from shared.storage.tables import Entity, FieldValue, TableStore
from shared.sync.context import DELIVERY_QUEUE, SyncContext
from shared.sync.leases import Leases

log = logging.getLogger(__name__)

WEBHOOK_SETTINGS = "webhooksettings"
SETTINGS_ROW = "settings"
CURSOR_ROW = "cursor"
SECRET_PREFIX = "whsec_"
TIMEOUT_SECONDS = 10.0
BATCH = 50
# Seconds before retry n (1-based); the last one repeats. Standard Webhooks suggests an
# exponential schedule ending in hours; a day of retries is about 30 attempts at the cap.
BACKOFF = (5, 30, 120, 600, 1800, 3600)
LEASE_TTL = timedelta(minutes=5)
LOOPBACK_HOSTS = {"localhost"}


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
    """Accept https URLs, and http only to loopback (local development)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _loopback(host):
        return url
    raise BadRequest(
        "the webhook URL must use https (http is accepted for loopback addresses only)",
        code="invalid_webhook_url",
    )


def _loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def _save_cursor(tables: TableStore, org: str, fields: dict[str, FieldValue]) -> None:
    tables.upsert(WEBHOOK_SETTINGS, Entity(encode_key(org), CURSOR_ROW, fields))


# --- delivering --------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: bool = False
    skipped: str = ""  # why nothing was attempted: "no_url", "busy", "waiting"
    retry_in: int = 0


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


def deliver(sctx: SyncContext, org: str, http: httpx.Client | None = None) -> DeliveryReport:
    """Deliver ``org``'s undelivered notifications in order (the ``notify-host-app`` worker)."""
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
    client = http or httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
    try:
        _walk(sctx, org, settings.url, secret, client, report)
    finally:
        if own:
            client.close()
        leases.release(lease)
    return report


def _walk(
    sctx: SyncContext,
    org: str,
    url: str,
    secret: str,
    client: httpx.Client,
    report: DeliveryReport,
) -> None:
    ctx = sctx.consent
    at = cursor(ctx.tables, org)
    last_id = at.last_id
    while True:
        batch = ctx.outbox.after(org, last_id, limit=BATCH)
        if not batch:
            return
        for notification in batch:
            error = _post(ctx.clock.now(), client, url, secret, notification)
            if error is not None:
                failures = at.failures + 1
                delay = BACKOFF[min(failures, len(BACKOFF)) - 1]
                report.failed, report.retry_in = True, delay
                _save_cursor(
                    ctx.tables,
                    org,
                    {
                        "last_id": last_id or "",
                        "failures": failures,
                        "next_attempt_at": ctx.clock.now() + timedelta(seconds=delay),
                        "last_error": error,
                    },
                )
                sctx.queues.send(DELIVERY_QUEUE, {"org": org}, delay_seconds=delay)
                log.warning(
                    "delivering notifications to %s's webhook failed (%s); retry %d in %d s",
                    org,
                    error,
                    failures,
                    delay,
                )
                return
            last_id = notification.id
            report.delivered += 1
            _save_cursor(ctx.tables, org, {"last_id": last_id, "failures": 0})
            at = Cursor(last_id, 0, None, None)


def _post(
    now: datetime, client: httpx.Client, url: str, secret: str, notification: Notification
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
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"
