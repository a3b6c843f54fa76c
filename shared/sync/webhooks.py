"""Inbound change notifications: validate, de-duplicate, enqueue. No provider calls here.

Microsoft Graph must get an answer within 3 seconds or counts the endpoint as slow and starts
dropping notifications ("Set up notifications for changes in resource data", Microsoft Graph
docs, section "Processing the change notification"); Google retries non-2xx answers with
exponential backoff (Calendar API "Push notifications": "Responding to notifications"). So each
notification costs two point reads (subscription index, client state), one marker insert and at
most one queue message, and everything heavy happens in the sync worker.

Validation: the subscription (Graph ``subscriptionId``) or channel (``X-Goog-Channel-ID``) must
be one the service created and its ``clientState`` / ``X-Goog-Channel-Token`` must equal the
calendar's secret (``hmac.compare_digest``, constant time). Anything else is logged and dropped
but still acknowledged: an error answer would only make the sender retry a forgery.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


def _verified(sctx: SyncContext, sub_id: str, given: str) -> subscriptions.IndexEntry | None:
    """The calendar of a subscription whose client state matches, else ``None``."""
    entry = subscriptions.lookup(sctx.consent.tables, sub_id)
    if entry is None:
        return None
    expected = sctx.consent.secrets.get(
        subscriptions.secret_name(entry.integration_id, entry.calendar_key)
    )
    if expected is None or not hmac.compare_digest(expected.encode(), given.encode()):
        return None
    return entry


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
    ``created`` + ``updated`` and duplicates): each distinct subscription is verified once and
    each calendar requested once, so the answer stays well inside Graph's 3 seconds.
    """
    result = WebhookResult()
    verified: dict[tuple[str, str], subscriptions.IndexEntry | None] = {}
    requested: set[str] = set()
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
        if request(sctx, entry.org, entry.calendar_key, "graph"):
            result.enqueued += 1
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
    if state in ("exists", "not_exists") and request(sctx, entry.org, entry.calendar_key, "google"):
        result.enqueued += 1
    return result
