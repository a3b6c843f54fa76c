"""The service's own metrics, recorded only when telemetry is on (see :mod:`.telemetry`).

Names, kinds and dimensions are documented in docs/operations.md ("Health and metrics"):

* ``calendar.sync.calendars`` (counter; ``outcome``): calendar sync runs by worker outcome;
* ``calendar.sync.failures`` (counter; ``kind``): failed runs by stable error code;
* ``calendar.webhook.ack_ms`` (histogram; ``provider``): time to acknowledge a notification;
* ``calendar.queue.depth`` and ``calendar.queue.poison`` (gauges; ``queue``): sampled by the
  5-minute cycle.

Until :func:`enable` is called every function here returns at once: nothing is imported, and no
storage call is made to sample queue depths. The OpenTelemetry API is imported on enabling only.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from shared.storage.queues import QueueSender

P = ParamSpec("P")
R = TypeVar("R")

METER_NAME = "calendar_integration"
CALENDARS_SYNCED = "calendar.sync.calendars"
SYNC_FAILURES = "calendar.sync.failures"
WEBHOOK_ACK_MS = "calendar.webhook.ack_ms"
QUEUE_DEPTH = "calendar.queue.depth"
POISON_MESSAGES = "calendar.queue.poison"
ALL_METRICS = (CALENDARS_SYNCED, SYNC_FAILURES, WEBHOOK_ACK_MS, QUEUE_DEPTH, POISON_MESSAGES)

# Worker outcomes that are failures (shared/sync/worker.py). Throttling is not failing
# (docs/decisions.md): a throttled run is re-queued with the provider's Retry-After.
FAILED_OUTCOMES = {"failed": "sync_failed", "reconnect": "reconnect_needed", "retrying": ""}


@dataclass(frozen=True)
class _Instruments:
    calendars: Any
    failures: Any
    webhook_ack: Any
    queue_depth: Any
    poison: Any


_lock = threading.Lock()
_instruments: _Instruments | None = None


def enable(meter_provider: Any = None) -> None:
    """Create the instruments on ``meter_provider`` (default: the global one the distro set)."""
    global _instruments
    from opentelemetry import metrics

    provider = meter_provider or metrics.get_meter_provider()
    meter = provider.get_meter(METER_NAME)
    with _lock:
        _instruments = _Instruments(
            calendars=meter.create_counter(
                CALENDARS_SYNCED, unit="{run}", description="Calendar sync runs by outcome"
            ),
            failures=meter.create_counter(
                SYNC_FAILURES, unit="{run}", description="Failed calendar sync runs by kind"
            ),
            webhook_ack=meter.create_histogram(
                WEBHOOK_ACK_MS, unit="ms", description="Time to acknowledge a notification"
            ),
            queue_depth=meter.create_gauge(
                QUEUE_DEPTH, unit="{message}", description="Approximate messages waiting"
            ),
            poison=meter.create_gauge(
                POISON_MESSAGES, unit="{message}", description="Messages in a -poison queue"
            ),
        )


def disable() -> None:
    """Stop recording (tests)."""
    global _instruments
    with _lock:
        _instruments = None


def enabled() -> bool:
    return _instruments is not None


def sync_run(outcome: str, error: str = "") -> None:
    """One worker run of a calendar ended with ``outcome`` (and its error code, if any)."""
    instruments = _instruments
    if instruments is None:
        return
    instruments.calendars.add(1, {"outcome": outcome})
    if outcome in FAILED_OUTCOMES:
        kind = error or FAILED_OUTCOMES[outcome] or "provider_unavailable"
        instruments.failures.add(1, {"kind": kind})


@contextmanager
def webhook_ack(provider: str) -> Iterator[None]:
    """Time the block as the acknowledgement of a ``provider`` notification."""
    instruments = _instruments
    if instruments is None:
        yield
        return
    started = time.monotonic()
    try:
        yield
    finally:
        elapsed_ms = (time.monotonic() - started) * 1000
        instruments.webhook_ack.record(elapsed_ms, {"provider": provider})


def acknowledgement(provider: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a webhook handler: its run time is the acknowledgement time of ``provider``."""

    def decorator(handler: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(handler)
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            with webhook_ack(provider):
                return handler(*args, **kwargs)

        return timed

    return decorator


def sample_queues(queues: QueueSender, names: tuple[str, ...]) -> None:
    """Record the depth of each queue in ``names`` and of its ``-poison`` queue."""
    instruments = _instruments
    if instruments is None:
        return
    for name in names:
        instruments.queue_depth.set(queues.approximate_count(name), {"queue": name})
        poison = f"{name}-poison"
        instruments.poison.set(queues.approximate_count(poison), {"queue": poison})
