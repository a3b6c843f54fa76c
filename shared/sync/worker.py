"""The sync worker: each calendar under a lease; a packed message's calendars concurrently.

A queue message is either one calendar (:class:`SyncMessage`: ``{"org", "calendar"[, "action"]
[, "attempt"][, "throttled"][, "raced"]}``, ``calendar`` = ``ref.key``: webhooks, retries,
on-demand syncs) or the 5-minute cycle's packed message (:class:`BatchMessage`: up to
``SYNC_CALENDARS_PER_MESSAGE`` calendars, run by :func:`sync_batch` on a per-process pool of
``SYNC_CONCURRENCY`` threads within ``SYNC_MESSAGE_BUDGET_SECONDS``; what is left goes to a
continuation message). Each calendar leads to :func:`sync_calendar`:

1. resolve the calendar (gone -> drop the message: it was disconnected or disabled);
2. take the calendar's lease. Held by another worker -> the run waits for the holder instead
   of polling (:func:`shared.sync.requests.wait_for_lease`): the holder sends one message for
   it when it releases the lease. If the holder died instead, its lease expires (10 minutes)
   and the next 5-minute cycle syncs the calendar; the waiting push markers are durable, so
   nothing is lost, only later;
3. clear the pending-sync marker *before* syncing, so a notification arriving during the run
   asks for one more run instead of being absorbed by this one;
4. with a calendar client (closed afterwards): make sure the change subscription exists (or
   renew/recreate it as the message asks), push the host app's pending work, pull changes for
   at most ``SYNC_MAX_PAGES`` pages (the rest continues in the next message), renewing the
   lease between pages once half of it has passed;
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
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

from shared.consent.connections import Connection
from shared.errors import (
    NotFound,
    ProviderError,
    ProviderUnavailable,
    ReconnectNeeded,
    ServiceError,
    Throttled,
    from_library,
)
from shared.integrations.model import Integration
from shared.observability import metrics
from shared.providers.base import CalendarClient
from shared.sync import batches, delivery, health, requests, subscriptions
from shared.sync.calendars import CalendarRef, client_for, resolve_rows
from shared.sync.context import SYNC_QUEUE, SyncContext
from shared.sync.leases import DEFAULT_TTL, Lease, LeaseLost, Leases
from shared.sync.pull import pull_calendar
from shared.sync.push import RACE_DELAY_SECONDS, push_calendar

log = logging.getLogger(__name__)

FAILING_AFTER = 3  # consecutive failed runs before the host app hears ``sync_failing``
BACKOFF_BASE = 2.0
BACKOFF_CAP = 120  # seconds, a guard: the 5-minute cycle takes over after the last retry
MAX_ATTEMPTS = 7  # unavailable runs of one message: 6 retries, 2 s doubling, ~2 min at most
MAX_THROTTLED = 10  # throttled runs of one message, each retried after the Retry-After
MAX_RACED = 3  # quick re-runs of one message after a push lost a write race

Status = Literal[
    "synced", "dropped", "busy", "throttled", "retrying", "failed", "reconnect", "continued"
]
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
class BatchMessage:
    """A packed sync message of the 5-minute cycle: ``{"org", "calendars": [key, ...],
    "batch"[, "renew": [key, ...]]}``. ``batch`` names its row in ``syncbatches``
    (:mod:`shared.sync.batches`), deleted when the message and its continuations are done."""

    org: str
    batch: str
    calendars: tuple[str, ...]
    renew: frozenset[str] = frozenset()

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"org": self.org, "calendars": list(self.calendars)}
        body["batch"] = self.batch
        renew = [k for k in self.calendars if k in self.renew]
        if renew:
            body["renew"] = renew
        return body


@dataclass(frozen=True)
class NotifiedMessage:
    """Calendars whose change notifications a webhook verified: ``{"notified": [[org,
    calendar, reason], ...]}``. The queue trigger requests one sync per calendar (the pending
    marker de-duplicates), so the webhook answers with one queue message whatever it carried."""

    notified: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class WorkerOutcome:
    status: Status
    delay_seconds: int = 0
    subscription: str = ""
    error: str = ""


def _count(body: dict[str, Any], name: str) -> int:
    value = body.get(name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _keys(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(k, str) and k for k in value):
        raise ValueError(f"'{what}' of a sync message is a list of calendar keys")
    return tuple(value)


Message = SyncMessage | BatchMessage | NotifiedMessage


def _notified(value: Any) -> NotifiedMessage:
    items: list[tuple[str, str, str]] = []
    for item in value if isinstance(value, list) else [None]:
        if (
            not isinstance(item, list)
            or len(item) != 3
            or not all(isinstance(part, str) and part for part in item)
        ):
            raise ValueError("'notified' of a sync message lists [org, calendar, reason]")
        items.append((item[0], item[1], item[2]))
    return NotifiedMessage(tuple(items))


def parse_message(body: Any) -> Message:
    """The :class:`SyncMessage`, :class:`BatchMessage` or :class:`NotifiedMessage` of a queue
    message body; ``ValueError`` if malformed."""
    if not isinstance(body, dict):
        raise ValueError("a sync message is a JSON object")
    if "notified" in body:
        return _notified(body["notified"])
    if "calendars" in body:
        org, batch = body.get("org"), body.get("batch")
        if not isinstance(org, str) or not org or not isinstance(batch, str) or not batch:
            raise ValueError("a packed sync message needs 'org' and 'batch'")
        calendars = _keys(body["calendars"], "calendars")
        if not calendars:
            raise ValueError("a packed sync message names at least one calendar")
        renew = frozenset(_keys(body.get("renew", []), "renew"))
        return BatchMessage(org, batch, calendars, renew)
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


class _LeaseKeeper:
    """The run's lease, renewed between pull pages once half its time has passed (one Table
    write per renewal, none on a run shorter than that)."""

    def __init__(self, leases: Leases, lease: Lease, now: Any) -> None:
        self.leases, self.lease, self._now = leases, lease, now

    def keep(self) -> None:
        remaining = self.lease.expires_at - self._now()
        if remaining <= DEFAULT_TTL / 2:
            renewed = self.leases.renew(self.lease, DEFAULT_TTL)
            if renewed is None:
                raise LeaseLost(f"the lease on {self.lease.key} is no longer held")
            self.lease = renewed


def sync_calendar(
    sctx: SyncContext, message: SyncMessage, *, holder: str | None = None, deliver: bool = True
) -> WorkerOutcome:
    """Sync one calendar (see the module docstring). Returns what happened; raises only for
    unexpected errors (storage outages, bugs), which the host retries. ``continued``: the pull
    stopped at its page budget (``SYNC_MAX_PAGES``) with its cursor saved; the caller sends
    the continuation (:func:`run_message`). ``deliver=False``: the caller asks for the
    organisation's delivery pass itself (once per packed message)."""
    ctx = sctx.consent
    key = message.calendar
    try:
        ref, integration, connection = resolve_rows(ctx, message.org, key)
    except NotFound:
        # A change notification that arrived while its integration was being erased (the
        # webhook verifies from memory) left the marker this message stands for: removing it
        # here keeps the erase complete. A later notification inserts a marker only together
        # with a message, so each such marker meets a run like this one.
        requests.clear(ctx.tables, key)
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
    keeper = _LeaseKeeper(leases, lease, ctx.clock.now)
    try:
        requests.clear(ctx.tables, key)
        return _run(sctx, ref, message, keeper, (integration, connection))
    finally:
        leases.release(keeper.lease)
        handed, action = requests.waiting(ctx.tables, key)
        if handed:
            sctx.queues.send(SYNC_QUEUE, SyncMessage(ref.org, key, action).body())
        if deliver:
            delivery.enqueue_if_pending(sctx, ref.org)


# One pool per process (per SYNC_CONCURRENCY) for the calendars of packed messages: the queue
# trigger runs several messages at once, and their calendars share these threads.
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _calendar_pool(size: int) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="sync")
        return pool


@dataclass(frozen=True)
class BatchOutcome:
    outcomes: dict[str, WorkerOutcome]
    continued: tuple[str, ...]  # calendars handed to the continuation message


def sync_batch(sctx: SyncContext, message: BatchMessage) -> BatchOutcome:
    """Sync a packed message's calendars concurrently, within ``SYNC_MESSAGE_BUDGET_SECONDS``.

    Calendars not started when the budget is spent, and calendars whose pull stopped at its
    page budget, go to one continuation message with the same batch id; otherwise the batch
    row is deleted (the cycle may enqueue these calendars again). An unexpected error of one
    calendar is raised after the others ran, so the host retries the message (the runs are
    idempotent) and the batch row stays.
    """
    settings, clock = sctx.consent.settings, sctx.consent.clock
    deadline = clock.now() + timedelta(seconds=settings.sync_message_budget_seconds)

    def one(key: str) -> WorkerOutcome | None:
        if clock.now() >= deadline:
            return None  # not started: the continuation takes it
        action = "renew" if key in message.renew else None
        return sync_calendar(sctx, SyncMessage(message.org, key, action), deliver=False)

    pool = _calendar_pool(settings.sync_concurrency)
    futures = [(key, pool.submit(one, key)) for key in message.calendars]
    outcomes: dict[str, WorkerOutcome] = {}
    left: list[str] = []
    error: BaseException | None = None
    for key, future in futures:
        try:
            outcome = future.result()
        except Exception as exc:  # re-raised below, after the others ran
            error = error or exc
            continue
        if outcome is None or outcome.status == "continued":
            left.append(key)
        if outcome is not None:
            outcomes[key] = outcome
    delivery.enqueue_if_pending(sctx, message.org)  # once for the message's organisation
    if error is not None:
        raise error
    tables = sctx.consent.tables
    if left:
        again = BatchMessage(message.org, message.batch, tuple(left), message.renew)
        sctx.queues.send(SYNC_QUEUE, again.body())
        log.info("sync batch %s: %d calendars continue in a new message", message.batch, len(left))
    else:
        batches.done(tables, message.org, message.batch)
    return BatchOutcome(outcomes, tuple(left))


def run_message(sctx: SyncContext, message: Message) -> str:
    """What the queue trigger runs for one sync message; a short summary for the log."""
    if isinstance(message, NotifiedMessage):
        from shared.sync.webhooks import request_notified

        enqueued = request_notified(sctx, list(message.notified))
        return f"{enqueued} of {len(message.notified)} notified calendars enqueued"
    if isinstance(message, BatchMessage):
        done = sync_batch(sctx, message)
        statuses: dict[str, int] = {}
        for outcome in done.outcomes.values():
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
            metrics.sync_run(outcome.status, outcome.error)
        return f"{statuses}, {len(done.continued)} continued"
    outcome = sync_calendar(sctx, message)
    metrics.sync_run(outcome.status, outcome.error)
    if outcome.status == "continued":
        # The pull stopped at its page budget: the next page in a message of its own.
        again = SyncMessage(message.org, message.calendar, None)
        sctx.queues.send(SYNC_QUEUE, again.body())
    return outcome.status


def _run(
    sctx: SyncContext,
    ref: CalendarRef,
    message: SyncMessage,
    keeper: _LeaseKeeper,
    rows: tuple[Integration, Connection | None],
) -> WorkerOutcome:
    ctx = sctx.consent
    subscription = ""
    retry = SyncMessage(
        ref.org, ref.key, message.action, message.attempt, message.throttled, message.raced
    )
    try:
        try:
            with closing(client_for(ctx, ref, rows)) as client:
                subscription = _subscription(sctx, ref, client, message.action)
                pushed = push_calendar(sctx, ref, client)
                keeper.keep()
                pulled = pull_calendar(
                    sctx,
                    ref,
                    client,
                    max_pages=ctx.settings.sync_max_pages,
                    on_page=keeper.keep,
                    owner=rows[1].account if rows[1] is not None and rows[1].account else None,
                )
        except (LeaseLost, ServiceError):
            raise
        except Exception as exc:
            # A library's outage that escaped its adapter (msal, google-auth, httpx, ...) is
            # retried and reported like any other outage, not as a crash of the worker.
            mapped = from_library(exc)
            if mapped is None:
                raise
            raise mapped from exc
    except LeaseLost:
        # Our lease ran out during a long run and another worker holds the calendar now; the
        # cursor is saved up to the last page, the holder carries on from there.
        log.warning("calendar %s: lease lost mid-run; the new holder continues", ref.key)
        return WorkerOutcome("busy", 0, subscription, "lease_lost")
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
    if not pulled.complete:
        return WorkerOutcome("continued", 0, subscription)
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
    bound = timedelta(minutes=ctx.settings.sync_failing_after_minutes)
    if status.failing_reported:
        return
    if status.consecutive_failures >= FAILING_AFTER or status.failing_too_long(
        ctx.clock.now(), bound
    ):
        report_sync_failing(sctx, ref, code, status)


def report_sync_failing(
    sctx: SyncContext, ref: CalendarRef, code: str, status: health.CalendarStatus
) -> None:
    """Tell the host app ``sync_failing`` for ``ref``, once per episode of failures.

    Raised after :data:`FAILING_AFTER` consecutive failed runs, or when every run failed (of
    any kind, throttling included) for ``SYNC_FAILING_AFTER_MINUTES``, or by the cycle when the
    calendar has not synced for that long at all (its runs never finish).
    """
    ctx = sctx.consent
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
