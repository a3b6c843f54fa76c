"""The sync worker: one calendar at a time, under a lease.

A queue message ``{"org", "calendar"[, "action"][, "attempt"]}`` (``calendar`` = ``ref.key``)
leads to :func:`sync_calendar`:

1. resolve the calendar (gone -> drop the message: it was disconnected or disabled);
2. take the calendar's lease (held by another worker -> the message comes back shortly);
3. clear the pending-sync marker *before* syncing, so a notification arriving during the run
   asks for one more run instead of being absorbed by this one;
4. with a calendar client (closed afterwards): make sure the change subscription exists (or
   renew/recreate it as the message asks), push the host app's pending work, pull changes;
5. record the outcome for the health view, tell the host app after repeated failures, and ask
   for a delivery pass when notifications are waiting; release the lease.

Faults never sleep in the invocation: ``Throttled`` sends the message again with ``Retry-After``
as its visibility delay; ``ProviderUnavailable`` with exponential backoff and jitter from the
message's attempt counter; ``ReconnectNeeded`` was already handled by the token source (the
connection is marked and the host app told): the message is dropped. Other provider errors
(a permission withdrawn, ...) are recorded and reported; the next cycle tries again. Anything
unexpected propagates, so the Functions host retries and finally moves the message to
``sync-calendar-poison``, which the health view counts.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Literal

from shared.errors import (
    NotFound,
    ProviderError,
    ProviderUnavailable,
    ReconnectNeeded,
    Throttled,
)
from shared.providers.base import CalendarClient
from shared.sync import delivery, health, requests, subscriptions
from shared.sync.calendars import CalendarRef, client_for, resolve
from shared.sync.context import SYNC_QUEUE, SyncContext
from shared.sync.leases import DEFAULT_TTL, Leases
from shared.sync.pull import pull_calendar
from shared.sync.push import push_calendar

log = logging.getLogger(__name__)

FAILING_AFTER = 3  # consecutive failed runs before the host app hears ``sync_failing``
BUSY_DELAY = 5  # seconds before a message that met another worker's lease comes back
BACKOFF_BASE = 2.0
BACKOFF_CAP = 300
MAX_ATTEMPTS = 8  # after that the message is dropped; the 5-minute cycle tries again

Status = Literal["synced", "dropped", "busy", "throttled", "retrying", "failed", "reconnect"]


@dataclass(frozen=True)
class WorkerOutcome:
    status: Status
    delay_seconds: int = 0
    subscription: str = ""
    error: str = ""


def parse_message(body: Any) -> tuple[str, str, str | None, int]:
    """``(org, calendar, action, attempt)`` from a queue message body; ``ValueError`` if bad."""
    if not isinstance(body, dict):
        raise ValueError("a sync message is a JSON object")
    org, calendar = body.get("org"), body.get("calendar")
    if not isinstance(org, str) or not isinstance(calendar, str) or not org or not calendar:
        raise ValueError("a sync message needs 'org' and 'calendar'")
    action = body.get("action")
    if action not in (None, "renew", "recreate"):
        raise ValueError(f"unknown sync action {action!r}")
    attempt = body.get("attempt", 0)
    return org, calendar, action, attempt if isinstance(attempt, int) and attempt >= 0 else 0


def backoff_seconds(attempt: int) -> int:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
    Jitter"), at least a second, at most :data:`BACKOFF_CAP`."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
    return max(1, math.ceil(random.uniform(ceiling / 2, ceiling)))  # noqa: S311 (not crypto)


def sync_calendar(
    sctx: SyncContext,
    org: str,
    calendar_key: str,
    *,
    action: str | None = None,
    attempt: int = 0,
    holder: str | None = None,
) -> WorkerOutcome:
    """Sync one calendar (see the module docstring). Returns what happened; raises only for
    unexpected errors (storage outages, bugs), which the host retries."""
    ctx = sctx.consent
    try:
        ref = resolve(ctx, org, calendar_key)
    except NotFound:
        log.info("calendar %s no longer syncs; message dropped", calendar_key)
        return WorkerOutcome("dropped")
    message: dict[str, Any] = {"org": org, "calendar": calendar_key}
    if action is not None:
        message["action"] = action
    leases = Leases(ctx.tables, ctx.clock)
    lease = leases.acquire(calendar_key, holder or uuid.uuid4().hex, DEFAULT_TTL)
    if lease is None:
        delay = min(BUSY_DELAY * 2 ** min(attempt, 5), 120)
        sctx.queues.send(SYNC_QUEUE, {**message, "attempt": attempt + 1}, delay_seconds=delay)
        log.info("calendar %s is being synced by another worker; back in %d s", ref.key, delay)
        return WorkerOutcome("busy", delay)
    try:
        requests.clear(ctx.tables, calendar_key)
        return _run(sctx, ref, message, action, attempt)
    finally:
        leases.release(lease)
        delivery.enqueue_if_pending(sctx, org)


def _run(
    sctx: SyncContext, ref: CalendarRef, message: dict[str, Any], action: str | None, attempt: int
) -> WorkerOutcome:
    ctx = sctx.consent
    subscription = ""
    try:
        with closing(client_for(ctx, ref)) as client:
            subscription = _subscription(sctx, ref, client, action)
            push_calendar(sctx, ref, client)
            pull_calendar(sctx, ref, client)
    except Throttled as exc:
        delay = max(1, math.ceil(exc.retry_after))
        _failed(sctx, ref, exc.code, transient=True)
        sctx.queues.send(SYNC_QUEUE, {**message, "attempt": attempt + 1}, delay_seconds=delay)
        log.info("calendar %s throttled; back in %d s", ref.key, delay)
        return WorkerOutcome("throttled", delay, subscription, exc.code)
    except ProviderUnavailable as exc:
        _failed(sctx, ref, exc.code)
        if attempt + 1 >= MAX_ATTEMPTS:
            log.warning("calendar %s: provider unavailable %d times; next cycle", ref.key, attempt)
            return WorkerOutcome("failed", 0, subscription, exc.code)
        delay = backoff_seconds(attempt)
        sctx.queues.send(SYNC_QUEUE, {**message, "attempt": attempt + 1}, delay_seconds=delay)
        log.info("calendar %s: provider unavailable; retry %d in %d s", ref.key, attempt + 1, delay)
        return WorkerOutcome("retrying", delay, subscription, exc.code)
    except ReconnectNeeded as exc:
        # The token source marked the connection needs_reconnect and told the host app.
        _failed(sctx, ref, exc.code)
        return WorkerOutcome("reconnect", 0, subscription, exc.code)
    except ProviderError as exc:
        _failed(sctx, ref, exc.code)
        log.warning("calendar %s failed: %s", ref.key, exc.code)
        return WorkerOutcome("failed", 0, subscription, exc.code)
    except NotFound as exc:
        # The connection went away between resolving and opening the client.
        log.info("calendar %s: %s; message dropped", ref.key, exc.code)
        return WorkerOutcome("dropped", 0, subscription, exc.code)
    except Exception as exc:
        _failed(sctx, ref, "internal_error")
        log.error("calendar %s: unexpected %s", ref.key, type(exc).__name__)
        raise
    health.record_run(ctx.tables, ref.org, ref.key, ctx.clock.now(), None)
    return WorkerOutcome("synced", 0, subscription)


def _subscription(
    sctx: SyncContext, ref: CalendarRef, client: CalendarClient, action: str | None
) -> str:
    """Ensure the change subscription; its failure must not stop the sync itself (the
    5-minute cycle still polls), except for the faults that would stop the sync anyway."""
    try:
        return subscriptions.ensure(
            sctx.consent,
            ref,
            client,
            "renew" if action == "renew" else "recreate" if action == "recreate" else None,
        )
    except (Throttled, ProviderUnavailable, ReconnectNeeded):
        raise
    except ProviderError as exc:
        log.warning("calendar %s: subscription failed: %s", ref.key, exc.code)
        return f"failed:{exc.code}"


def _failed(sctx: SyncContext, ref: CalendarRef, code: str, *, transient: bool = False) -> None:
    ctx = sctx.consent
    status = health.record_run(
        ctx.tables, ref.org, ref.key, ctx.clock.now(), code, transient=transient
    )
    if status.consecutive_failures >= FAILING_AFTER and not status.failing_reported:
        ctx.outbox.append(
            ref.org,
            "sync_failing",
            {
                "integration_id": ref.integration_id,
                "person": ref.person,
                "calendar": ref.key,
                "error": code,
                "consecutive_failures": status.consecutive_failures,
            },
        )
        health.mark_failing_reported(ctx.tables, ref.org, ref.key)
