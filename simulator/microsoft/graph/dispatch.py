"""Background work: change and lifecycle notification delivery, retries, delayed room answers.

Graph delivers notifications asynchronously and never inside the request that made the change
(https://learn.microsoft.com/graph/change-notifications-delivery-webhooks). Here a daemon thread
keeps a timetable of jobs and runs due ones on a small pool; it exits when idle and is started
again by the next job, so a discarded world leaves no thread behind for long.

Delivery rules reproduced:

* one POST per notification, body ``{"value": [notification]}``, ``Content-Type: application/json``;
* an answer slower than ``Settings.notification_timeout`` (3 s) or not 2xx is a failure, retried
  after each of ``Settings.retry_delays`` and then given up (Graph retries for up to 4 hours);
* a ``created`` change is followed by an ``updated`` one, and any notification is sent twice with
  probability ``Settings.duplicate_rate`` (Graph documents that duplicates happen);
* validation requests: ``POST {url}?validationToken=...`` with a ``text/plain`` body expected
  back, verbatim, within 10 s, with status 200.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.state import (
    Delivery,
    DeliveryAttempt,
    Subscription,
    graph_state,
)
from simulator.microsoft.graph.times import iso_utc
from simulator.world import World

if TYPE_CHECKING:
    from simulator.microsoft.graph.state import StoredEvent

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
IDLE_EXIT_SECONDS = 30.0


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


def check_notification_url(url: str, field: str) -> None:
    """Graph requires https; the simulator also accepts ``http://`` on loopback for local dev."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(url)):
        return
    raise GraphError(
        400, "InvalidRequest", f"The Uri scheme '{parts.scheme}' of {field} is not https."
    )


def _verify(url: str) -> bool:
    # Loopback endpoints use local certificates the simulator has no reason to know.
    return not is_loopback(url)


class Dispatcher:
    """A timetable of jobs run by a daemon thread on a pool of four workers."""

    def __init__(self) -> None:
        self._jobs: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="graph-delivery")

    def schedule(self, delay: float, job: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._jobs, (time.monotonic() + delay, next(self._counter), job))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name="graph-dispatcher"
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        idle_since = time.monotonic()
        while True:
            with self._cond:
                now = time.monotonic()
                if not self._jobs:
                    if now - idle_since > IDLE_EXIT_SECONDS:
                        self._thread = None
                        return
                    self._cond.wait(timeout=1.0)
                    continue
                due, _, job = self._jobs[0]
                if due > now:
                    self._cond.wait(timeout=due - now)
                    continue
                heapq.heappop(self._jobs)
            idle_since = time.monotonic()
            self._pool.submit(job)


def dispatcher(world: World) -> Dispatcher:
    state = graph_state(world)
    with world.lock:
        if state.dispatcher is None:
            state.dispatcher = Dispatcher()
        return state.dispatcher  # type: ignore[no-any-return]


def _stamp() -> str:
    return datetime.now(UTC).isoformat()


def _attempt(world: World, delivery: Delivery) -> None:
    state = graph_state(world)
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        with httpx.Client(
            verify=_verify(delivery.url), timeout=state.settings.notification_timeout
        ) as http:
            response = http.post(delivery.url, json=delivery.payload)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    seconds = round(time.monotonic() - started, 3)
    with world.lock:
        delivery.attempts.append(DeliveryAttempt(_stamp(), status, seconds, error))
        if error is None:
            delivery.outcome = "delivered"
            return
        tries = len(delivery.attempts)
        delays = state.settings.retry_delays
        if tries > len(delays):
            delivery.outcome = "failed"
            return
        delay = delays[tries - 1]
    dispatcher(world).schedule(delay, lambda: _attempt(world, delivery))


def enqueue(world: World, kind: str, sub: Subscription, url: str, payload: dict[str, Any]) -> None:
    """Record a delivery and send it in the background (caller may hold ``world.lock``)."""
    delivery = Delivery(
        id=str(uuid.uuid4()), kind=kind, subscription_id=sub.id, url=url, payload=payload
    )
    with world.lock:
        graph_state(world).deliveries.append(delivery)
    dispatcher(world).schedule(0.0, lambda: _attempt(world, delivery))


def change_notification(sub: Subscription, ev: StoredEvent, change_type: str) -> dict[str, Any]:
    """One item of ``value`` as documented for Outlook resources without resource data."""
    resource = f"Users/{ev.mailbox_id}/Events/{ev.id}"
    return {
        "id": uuid.uuid4().hex[:13],
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": iso_utc(sub.expiration),
        "changeType": change_type,
        "resource": resource,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": resource,
            "@odata.etag": f'W/"{ev.data["changeKey"]}"',
            "id": ev.id,
        },
        "clientState": sub.client_state,
        "tenantId": sub.tenant_id,
    }


def notify_change(world: World, ev: StoredEvent, change_type: str) -> None:
    """Queue notifications for every live subscription on ``ev``'s mailbox that wants them."""
    state = graph_state(world)
    now = world.now()
    with world.lock:
        subs = [
            s
            for s in state.subscriptions.values()
            if s.mailbox_id == ev.mailbox_id and s.expiration > now
        ]
        for sub in subs:
            kinds = [change_type]
            if change_type == "created":
                kinds.append("updated")  # Graph follows a creation with an update
            for kind in kinds:
                if kind not in sub.change_types:
                    continue
                copies = 2 if world.rng.random() < state.settings.duplicate_rate else 1
                for _ in range(copies):
                    payload = {"value": [change_notification(sub, ev, kind)]}
                    enqueue(world, "change", sub, sub.notification_url, payload)


def lifecycle_notification(sub: Subscription, event: str) -> dict[str, Any]:
    """The documented lifecycle notification body (``lifecycleEvent`` names the event)."""
    return {
        "value": [
            {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": iso_utc(sub.expiration),
                "tenantId": sub.tenant_id,
                "clientState": sub.client_state,
                "lifecycleEvent": event,
            }
        ]
    }


async def validate(world: World, sub_id: str, url: str) -> None:
    """The subscription validation handshake; raises Graph's 400 when the endpoint fails it."""
    state = graph_state(world)
    # Graph's validation tokens are readable text, not just opaque strings.
    token = (
        "Validation: Testing client application reachability for subscription "
        f"Request-Id: {uuid.uuid4()}"
    )
    started = time.monotonic()
    delivery = Delivery(
        id=str(uuid.uuid4()),
        kind="validation",
        subscription_id=sub_id,
        url=url,
        payload={"validationToken": token},
    )
    failure: GraphError | None = None
    status: int | None = None
    try:
        async with httpx.AsyncClient(
            verify=_verify(url), timeout=state.settings.validation_timeout
        ) as http:
            response = await http.post(
                url, params={"validationToken": token}, headers={"Content-Type": "text/plain"}
            )
        status = response.status_code
        if status != 200:
            failure = GraphError(
                400,
                "InvalidRequest",
                "Subscription validation request failed. Notification endpoint must respond "
                "with 200 OK to validation request.",
            )
        elif response.text != token:
            failure = GraphError(
                400,
                "InvalidRequest",
                "Subscription validation request failed. Response must exactly match "
                "validationToken query parameter.",
            )
    except httpx.TimeoutException:
        failure = GraphError(400, "InvalidRequest", "Subscription validation request timed out.")
    except httpx.HTTPError as exc:
        failure = GraphError(
            400,
            "InvalidRequest",
            f"Subscription validation request failed. HTTP request failed: {type(exc).__name__}.",
        )
    seconds = round(time.monotonic() - started, 3)
    delivery.attempts.append(
        DeliveryAttempt(_stamp(), status, seconds, failure.message if failure else None)
    )
    delivery.outcome = "failed" if failure else "delivered"
    with world.lock:
        state.deliveries.append(delivery)
    if failure is not None:
        raise failure
