"""Graph's state in a world: mailboxes with their events, subscriptions, delta cursors, settings.

Every change to an event takes the next value of one world-wide sequence (``GraphState.seq``);
delta tokens remember the sequence value they were issued at, so a delta round returns exactly
the events whose ``version`` is newer. Deleted events stay as tombstones so that delta can report
them as ``@removed``.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.world import World


def new_event_id() -> str:
    """An opaque id in the style of Exchange item ids (``AAMkA...``), URL-safe."""
    raw = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
    return "AAMkA" + raw


def new_change_key() -> str:
    return base64.b64encode(secrets.token_bytes(12)).decode()


@dataclass
class StoredEvent:
    """One event in one mailbox. ``data`` is the Graph representation with times in UTC."""

    id: str
    mailbox_id: str
    data: dict[str, Any]
    version: int
    deleted: bool = False
    # Start/end (UTC) as last stored, kept for tombstones.
    start: datetime | None = None
    end: datetime | None = None

    @property
    def kind(self) -> str:
        """``singleInstance``, ``seriesMaster``, ``occurrence`` or ``exception``."""
        return str(self.data.get("type") or "singleInstance")


@dataclass
class Mailbox:
    user_id: str
    events: dict[str, StoredEvent] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)  # transactionId -> event id

    def live(self) -> list[StoredEvent]:
        return [e for e in self.events.values() if not e.deleted]


@dataclass
class Subscription:
    id: str
    tenant_id: str
    app_id: str
    creator_id: str
    mailbox_id: str
    resource: str
    change_types: list[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    tls: str = "v1_2"


@dataclass
class DeltaCursor:
    """A stored ``$skiptoken`` (``pending`` set) or ``$deltatoken`` (``pending`` empty)."""

    mailbox_id: str
    start: datetime
    end: datetime
    since: int  # changes with version > since are reported
    upto: int  # the sequence value this round covers
    select: str | None
    pending: list[str] = field(default_factory=list)  # event ids still to return in this round
    # Occurrence ids of series reported as present in the window so far: when a master changes
    # (ended early, deleted), those no longer produced by its rule are reported ``@removed``.
    known: set[str] = field(default_factory=set)


@dataclass
class DeliveryAttempt:
    at: str
    status: int | None
    seconds: float
    error: str | None


@dataclass
class Delivery:
    """One notification POST (change or lifecycle) and what became of it."""

    id: str
    kind: str  # "change", "lifecycle" or "validation"
    subscription_id: str
    url: str
    payload: dict[str, Any]
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    outcome: str = "pending"  # "delivered", "failed", "pending"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "subscriptionId": self.subscription_id,
            "url": self.url,
            "payload": self.payload,
            "outcome": self.outcome,
            "attempts": [
                {"at": a.at, "status": a.status, "seconds": a.seconds, "error": a.error}
                for a in self.attempts
            ],
        }


@dataclass
class Settings:
    """Knobs tests turn through the control API."""

    # Documented maximum lifetime of an Outlook event subscription, in minutes.
    max_subscription_minutes: int = 4230
    # Probability that a change notification is delivered twice.
    duplicate_rate: float = 0.0
    # Graph expects notification endpoints to answer within 3 seconds.
    notification_timeout: float = 3.0
    validation_timeout: float = 10.0
    # Delays between delivery attempts; Graph retries for hours, tests want seconds.
    retry_delays: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0])
    # How long a room mailbox takes to answer a booking (the booking assistant is asynchronous).
    room_response_delay: float = 0.2
    # Outlook's documented limit: 10,000 requests per 10 minutes per app and mailbox.
    throttle_limit: int = 10_000
    throttle_window: float = 600.0
    throttle_retry_after: int = 10


@dataclass
class GraphState:
    seq: int = 0
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    cursors: dict[str, DeltaCursor] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    # (app id, mailbox id) -> request timestamps in the current window
    request_times: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    dispatcher: Any = None  # simulator.microsoft.graph.dispatch.Dispatcher, created on first use

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def mailbox(self, user_id: str) -> Mailbox:
        if user_id not in self.mailboxes:
            self.mailboxes[user_id] = Mailbox(user_id=user_id)
        return self.mailboxes[user_id]


def graph_state(world: World) -> GraphState:
    """The world's Graph state, created on first use."""
    return world.area("microsoft.graph", GraphState)
