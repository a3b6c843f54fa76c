"""The sync worker: one calendar at a time, under a lease.

A queue message (:class:`SyncMessage`: ``{"org", "calendar"[, "action"][, "attempt"]
[, "throttled"][, "raced"]}``, ``calendar`` = ``ref.key``) leads to :func:`sync_calendar`:

1. resolve the calendar (gone -> drop the message: it was disconnected or disabled);
2. take the calendar's lease. Held by another worker -> the run waits for the holder instead
   of polling (:func:`shared.sync.requests.wait_for_lease`): the holder sends one message for
   it when it releases the lease. If the holder died instead, its lease expires (10 minutes)
   and the next 5-minute cycle syncs the calendar; the waiting push markers are durable, so
   nothing is lost, only later;
3. clear the pending-sync marker *before* syncing, so a notification arriving during the run
   asks for one more run instead of being absorbed by this one;
4. with a calendar client (closed afterwards): make sure the change subscription exists (or
   renew/recreate it as the message asks), push the host app's pending work, pull changes;
5. record the outcome for the health view, tell the host app after repeated failures, release
   the lease, hand over to a run that waited for it, and ask for a delivery pass when
   notifications are waiting.

Faults never sleep in the invocation: ``Throttled`` sends the message again with ``Retry-After``
as its visibility delay, until one message was throttled :data:`MAX_THROTTLED` times;
``ProviderUnavailable`` with exponential backoff and full jitter, until one message met
:data:`MAX_ATTEMPTS` such failures; a push that lost a write race at the provider is run again a
few seconds later (at most :data:`MAX_RACED` times). Each kind counts its own retries, so a
throttled run does not lengthen a later backoff. After the last retry the message is dropped:
the 5-minute cycle syncs the calendar again, and a message chain that outlived its cycle would
only add to the load that caused the fault. ``ReconnectNeeded`` was already handled by the token
source (the connection is marked and the host app told): the message is dropped. Other provider
errors (a permission withdrawn, ...) are recorded and reported; the next cycle tries again.
Anything unexpected propagates, so the Functions host retries and finally moves the message to
``sync-calendar-poison``, which the health view counts.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
from contextlib import closing
from dataclasses import dataclass, replace
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
from shared.sync.push import RACE_DELAY_SECONDS, push_calendar

log = logging.getLogger(__name__)

FAILING_AFTER = 3  # consecutive failed runs before the host app hears ``sync_failing``
BACKOFF_BASE = 2.0
BACKOFF_CAP = 120  # seconds, a guard: the 5-minute cycle takes over after the last retry
MAX_ATTEMPTS = 7  # unavailable runs of one message: 6 retries, 2 s doubling, ~2 min at most
MAX_THROTTLED = 10  # throttled runs of one message, each retried after the Retry-After
MAX_RACED = 3  # quick re-runs of one message after a push lost a write race

Status = Literal["synced", "dropped", "busy", "throttled", "retrying", "failed", "reconnect"]
_ACTIONS = (None, "renew", "recreate")


@dataclass(frozen=True)
class SyncMessage:
    """One sync queue message. ``attempt``, ``throttled`` and ``raced`` count the retries of
    this message for a provider that was unavailable, throttling, or for a push that lost a
    write race."""

    org: str
    calendar: str
    action: str | None = None  # "renew" or "recreate" the change subscription
    attempt: int = 0
    throttled: int = 0
    raced: int = 0

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"org": self.org, "calendar": self.calendar}
        if self.action is not None:
            body["action"] = self.action
        if self.attempt:
            body["attempt"] = self.attempt
        if self.throttled:
            body["throttled"] = self.throttled
        if self.raced:
            body["raced"] = self.raced
        return body


@dataclass(frozen=True)
class WorkerOutcome:
    status: Status
    delay_seconds: int = 0
    subscription: str = ""
    error: str = ""


def _count(body: dict[str, Any], name: str) -> int:
    value = body.get(name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def parse_message(body: Any) -> SyncMessage:
    """The :class:`SyncMessage` of a queue message body; ``ValueError`` if malformed."""
    if not isinstance(body, dict):
        raise ValueError("a sync message is a JSON object")
    org, calendar = body.get("org"), body.get("calendar")
    if not isinstance(org, str) or not isinstance(calendar, str) or not org or not calendar:
        raise ValueError("a sync message needs 'org' and 'calendar'")
    action = body.get("action")
    if action not in _ACTIONS:
        raise ValueError(f"unknown sync action {action!r}")
    return SyncMessage(
        org,
        calendar,
        action,
        _count(body, "attempt"),
        _count(body, "throttled"),
        _count(body, "raced"),
    )


def backoff_seconds(attempt: int) -> int:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
    Jitter"), at least a second, at most :data:`BACKOFF_CAP`."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
    return max(1, math.ceil(random.uniform(ceiling / 2, ceiling)))  # noqa: S311 (not crypto)


def sync_calendar(
    sctx: SyncContext, message: SyncMessage, *, holder: str | None = None
) -> WorkerOutcome:
    """Sync one calendar (see the module docstring). Returns what happened; raises only for
    unexpected errors (storage outages, bugs), which the host retries."""
    ctx = sctx.consent
    key = message.calendar
    try:
        ref = resolve(ctx, message.org, key)
    except NotFound:
        log.info("calendar %s no longer syncs; message dropped", key)
        return WorkerOutcome("dropped")
    leases = Leases(ctx.tables, ctx.clock)
    me = holder or uuid.uuid4().hex
    lease = leases.acquire(key, me, DEFAULT_TTL)
    if lease is None:
        requests.wait_for_lease(ctx.tables, ctx.clock, key, message.action)
        # The holder may have released between our two tries: then the lease is ours now.
        lease = leases.acquire(key, me, DEFAULT_TTL)
        if lease is None:
            log.info("calendar %s is being synced by another worker; it hands over", key)
            return WorkerOutcome("busy")
    try:
        requests.clear(ctx.tables, key)
        return _run(sctx, ref, message)
    finally:
        leases.release(lease)
        handed, action = requests.waiting(ctx.tables, key)
        if handed:
            sctx.queues.send(SYNC_QUEUE, SyncMessage(ref.org, key, action).body())
        delivery.enqueue_if_pending(sctx, ref.org)


def _run(sctx: SyncContext, ref: CalendarRef, message: SyncMessage) -> WorkerOutcome:
    ctx = sctx.consent
    subscription = ""
    retry = SyncMessage(
        ref.org, ref.key, message.action, message.attempt, message.throttled, message.raced
    )
    try:
        with closing(client_for(ctx, ref)) as client:
            subscription = _subscription(sctx, ref, client, message.action)
            pushed = push_calendar(sctx, ref, client)
            pull_calendar(sctx, ref, client)
    except Throttled as exc:
        _failed(sctx, ref, exc.code, transient=True)
        if message.throttled + 1 >= MAX_THROTTLED:
            log.warning("calendar %s: throttled %d times; next cycle", ref.key, MAX_THROTTLED)
            return WorkerOutcome("throttled", 0, subscription, exc.code)
        delay = max(1, math.ceil(exc.retry_after))
        again = replace(retry, throttled=message.throttled + 1)
        sctx.queues.send(SYNC_QUEUE, again.body(), delay_seconds=delay)
        log.info("calendar %s throttled; back in %d s", ref.key, delay)
        return WorkerOutcome("throttled", delay, subscription, exc.code)
    except ProviderUnavailable as exc:
        _failed(sctx, ref, exc.code)
        if message.attempt + 1 >= MAX_ATTEMPTS:
            log.warning(
                "calendar %s: provider unavailable %d times; next cycle", ref.key, MAX_ATTEMPTS
            )
            return WorkerOutcome("failed", 0, subscription, exc.code)
        delay = backoff_seconds(message.attempt)
        again = replace(retry, attempt=message.attempt + 1)
        sctx.queues.send(SYNC_QUEUE, again.body(), delay_seconds=delay)
        log.info(
            "calendar %s: provider unavailable; retry %d in %d s", ref.key, again.attempt, delay
        )
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
    if pushed.raced and message.raced < MAX_RACED:
        # Another writer (the host app's real-time push takes no lease) changed the event
        # between our re-read and our write. Its marker stays; a run in a few seconds settles
        # it from the fresh state instead of leaving it to the next cycle.
        again = replace(retry, raced=message.raced + 1, action=None)
        sctx.queues.send(SYNC_QUEUE, again.body(), delay_seconds=RACE_DELAY_SECONDS)
        return WorkerOutcome("synced", RACE_DELAY_SECONDS, subscription, "raced")
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
        since = status.last_success_at.isoformat() if status.last_success_at else "never"
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
            # One report per episode of failures (they end with a success): a crash before
            # the mark below repeats this append, which the key turns into a no-op.
            dedupe_key=f"{ref.key}|{since}",
        )
        health.mark_failing_reported(ctx.tables, ref.org, ref.key)
