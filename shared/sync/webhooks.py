"""Inbound change notifications: validate, enqueue once; de-duplicate in the queue trigger.

Microsoft Graph must get an answer within 3 seconds or counts the endpoint as slow and starts
dropping notifications ("Set up notifications for changes in resource data", Microsoft Graph
docs, section "Processing the change notification"); Google retries non-2xx answers with
exponential backoff (Calendar API "Push notifications": "Responding to notifications"). So a
POST is verified from memory (:class:`_Known`: each subscription's index entry and client state,
read once per process and kept for ten minutes) and acknowledged with at most one queue message
(``{"notified": [[org, calendar, reason], ...]}``) whatever the number of notifications it
carries. The queue trigger then inserts each calendar's pending-sync marker and enqueues one
sync per calendar (:func:`request_notified`), so duplicates still cause one sync.

Validation: the subscription (Graph ``subscriptionId``) or channel (``X-Goog-Channel-ID``) must
be one the service created and its ``clientState`` / ``X-Goog-Channel-Token`` must equal the
calendar's secret (``hmac.compare_digest``, constant time). Anything else is logged and dropped
but still acknowledged: an error answer would only make the sender retry a forgery.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.secrets.store import SecretStore
from shared.storage.tables import TableStore
from shared.sync import subscriptions
from shared.sync.context import SYNC_QUEUE, SyncContext
from shared.sync.requests import request_sync

log = logging.getLogger(__name__)

# Graph lifecycle events (https://learn.microsoft.com/graph/change-notifications-lifecycle-events)
REAUTHORIZATION_REQUIRED = "reauthorizationRequired"
SUBSCRIPTION_REMOVED = "subscriptionRemoved"
MISSED = "missed"
COALESCE_SECONDS = 2


@dataclass
class WebhookResult:
    """What a notification POST led to (counts only; for the answer and the logs)."""

    accepted: int = 0
    ignored: int = 0
    enqueued: int = 0
    actions: list[str] = field(default_factory=list)


def _items(body: bytes) -> list[Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return []
    items = parsed.get("value") if isinstance(parsed, dict) else None
    return items if isinstance(items, list) else []


KNOWN_FOR_SECONDS = 600
_KNOWN_MAX = 50_000


class _Known:
    """Subscriptions this process has verified: id -> (index entry, client state, until).

    Per table store (so two deployments or tests in one process never mix). Only subscriptions
    that exist are kept, so a forged id costs its reads every time and is never remembered; a
    subscription's client state never changes (a new one gets a new id), so a kept value stays
    right for as long as the subscription lives, and ten minutes bound how long a removed one
    is still recognised (its notification then asks for a sync the worker finds nothing for).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_store: weakref.WeakKeyDictionary[
            TableStore, dict[str, tuple[subscriptions.IndexEntry, str, float]]
        ] = weakref.WeakKeyDictionary()

    def get(
        self, tables: TableStore, secrets: SecretStore, sub_id: str
    ) -> tuple[subscriptions.IndexEntry, str] | None:
        now = time.monotonic()
        with self._lock:
            found = self._by_store.get(tables, {}).get(sub_id)
        if found is not None and found[2] > now:
            return found[0], found[1]
        entry = subscriptions.lookup(tables, sub_id)
        if entry is None:
            return None
        state = secrets.get(subscriptions.secret_name(entry.integration_id, entry.calendar_key))
        if state is None:
            return None
        with self._lock:
            known = self._by_store.setdefault(tables, {})
            if len(known) >= _KNOWN_MAX:
                known.clear()
            known[sub_id] = (entry, state, now + KNOWN_FOR_SECONDS)
        return entry, state


_KNOWN = _Known()


def _verified(sctx: SyncContext, sub_id: str, given: str) -> subscriptions.IndexEntry | None:
    """The calendar of a subscription whose client state matches, else ``None``."""
    if not sub_id:
        return None
    known = _KNOWN.get(sctx.consent.tables, sctx.consent.secrets, sub_id)
    if known is None:
        return None
    entry, expected = known
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return None
    return entry


def enqueue_notified(sctx: SyncContext, notified: list[tuple[str, str, str]]) -> bool:
    """One queue message for every calendar a POST verified: ``(org, calendar, reason)``."""
    if not notified:
        return False
    sctx.queues.send(SYNC_QUEUE, {"notified": [list(n) for n in notified]})
    return True


def request_notified(sctx: SyncContext, notified: list[tuple[str, str, str]]) -> int:
    """The queue trigger's half: each calendar's marker, one sync each; how many enqueued."""
    return sum(request(sctx, org, key, reason) for org, key, reason in notified)


def request(sctx: SyncContext, org: str, calendar_key: str, reason: str) -> bool:
    """Insert the calendar's pending-sync marker and enqueue one sync only if it was new."""
    ctx = sctx.consent
    if not request_sync(ctx.tables, ctx.clock, calendar_key, reason):
        return False
    # A short delay coalesces a burst (Graph sends ``created`` then ``updated`` for a new
    # event, and duplicates) into the one run this marker stands for.
    sctx.queues.send(
        SYNC_QUEUE, {"org": org, "calendar": calendar_key}, delay_seconds=COALESCE_SECONDS
    )
    return True


def graph_notifications(sctx: SyncContext, body: bytes) -> WebhookResult:
    """Graph change notifications (``{"value": [...]}``): one sync per calendar at most.

    A POST can carry many notifications for few subscriptions (Graph batches them, and sends
    ``created`` + ``updated`` and duplicates): each distinct subscription is verified once, from
    memory after its first notification, and the calendars go out in one queue message.
    ``enqueued`` counts queue messages (0 or 1).
    """
    result = WebhookResult()
    verified: dict[tuple[str, str], subscriptions.IndexEntry | None] = {}
    requested: set[str] = set()
    notified: list[tuple[str, str, str]] = []
    for item in _items(body):
        if not isinstance(item, dict):
            result.ignored += 1
            continue
        sub_id, given = str(item.get("subscriptionId", "")), str(item.get("clientState", ""))
        if (sub_id, given) not in verified:
            verified[(sub_id, given)] = _verified(sctx, sub_id, given)
        entry = verified[(sub_id, given)]
        if entry is None:
            result.ignored += 1
            log.warning(
                "graph notification for an unknown subscription or with a wrong "
                "clientState ignored (subscription %s)",
                sub_id[:64],
            )
            continue
        result.accepted += 1
        if entry.calendar_key in requested:
            continue
        requested.add(entry.calendar_key)
        notified.append((entry.org, entry.calendar_key, "graph"))
    result.enqueued += enqueue_notified(sctx, notified)
    return result


def graph_lifecycle(sctx: SyncContext, body: bytes) -> WebhookResult:
    """Graph lifecycle notifications: the work is enqueued for the worker.

    ``reauthorizationRequired`` -> renew (PATCH the expiry) now; ``subscriptionRemoved`` ->
    a new subscription, then a sync (changes made meanwhile come with the next delta page);
    ``missed`` -> a sync.
    """
    result = WebhookResult()
    for item in _items(body):
        if not isinstance(item, dict):
            result.ignored += 1
            continue
        sub_id, given = str(item.get("subscriptionId", "")), str(item.get("clientState", ""))
        event = str(item.get("lifecycleEvent", ""))
        entry = _verified(sctx, sub_id, given)
        if entry is None:
            result.ignored += 1
            log.warning(
                "graph lifecycle %s for an unknown subscription or with a wrong "
                "clientState ignored (subscription %s)",
                event[:40],
                sub_id[:64],
            )
            continue
        result.accepted += 1
        message = {"org": entry.org, "calendar": entry.calendar_key}
        if event == REAUTHORIZATION_REQUIRED:
            sctx.queues.send(SYNC_QUEUE, {**message, "action": "renew"})
        elif event == SUBSCRIPTION_REMOVED:
            sctx.queues.send(SYNC_QUEUE, {**message, "action": "recreate"})
        elif event == MISSED:
            if not request(sctx, entry.org, entry.calendar_key, "graph_missed"):
                result.actions.append("already_pending")
                continue
        else:
            log.warning("unknown graph lifecycle event %s ignored", event[:40])
            result.ignored += 1
            continue
        result.enqueued += 1
        result.actions.append(event)
        log.info("graph lifecycle %s for calendar %s", event, entry.calendar_key)
    return result


def google_push(sctx: SyncContext, headers: Mapping[str, str]) -> WebhookResult:
    """A Google push notification (all in ``X-Goog-*`` headers, no body).

    ``sync`` announces a new channel: nothing to do. ``exists`` / ``not_exists``: the calendar
    changed, so request a sync.
    """
    result = WebhookResult()
    channel = headers.get("x-goog-channel-id", "")
    token = headers.get("x-goog-channel-token", "")
    state = headers.get("x-goog-resource-state", "")
    entry = _verified(sctx, channel, token)
    resource = headers.get("x-goog-resource-id", "")
    if entry is not None and entry.resource_id and resource and resource != entry.resource_id:
        entry = None
    if entry is None:
        result.ignored += 1
        log.warning(
            "google push %s for an unknown channel or with a wrong token ignored (channel %s)",
            state[:20],
            channel[:64],
        )
        return result
    result.accepted += 1
    if state in ("exists", "not_exists"):
        result.enqueued += enqueue_notified(sctx, [(entry.org, entry.calendar_key, "google")])
    return result
