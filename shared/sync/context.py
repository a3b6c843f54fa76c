"""What the sync engine needs: the consent context (stores, clock, provider kit) and queues."""

from __future__ import annotations

from dataclasses import dataclass

from shared.consent.context import ConsentContext
from shared.storage.queues import QueueSender

SYNC_QUEUE = "sync-calendar"
DELIVERY_QUEUE = "notify-host-app"


@dataclass
class SyncContext:
    consent: ConsentContext
    queues: QueueSender
