"""Deadlines: the timeouts every outbound client gets, and work bounded by a deadline.

A hung dependency must never hang a route (docs/decisions.md, "Deadlines"). Two tools:

* :class:`Timeouts` (connect, read) built from settings for each kind of dependency, with the
  keyword arguments the azure-core clients (Table, Queue, Key Vault) take: both timeouts and one
  quick retry, instead of azure-core's defaults (no read timeout worth the name with a hung
  peer, up to 10 retries, Queue storage's 15 s backoff);
* :func:`run_within`: run a callable on a worker thread and give up waiting after a deadline,
  raising :class:`~shared.errors.DeadlineExceeded`. The thread is not killed (Python cannot);
  it ends on its own when its calls time out, which the timeouts above bound.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.errors import DeadlineExceeded
from shared.settings import Settings

T = TypeVar("T")

# Retries after the first attempt for storage and Key Vault calls, and the pause before it.
AZURE_RETRIES = 1
AZURE_RETRY_BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class Timeouts:
    """Connect and read timeouts of one kind of outbound call, in seconds."""

    connect: float
    read: float

    @classmethod
    def storage(cls, settings: Settings) -> Timeouts:
        return cls(settings.storage_connect_timeout_seconds, settings.storage_read_timeout_seconds)

    @classmethod
    def key_vault(cls, settings: Settings) -> Timeouts:
        return cls(
            settings.key_vault_connect_timeout_seconds, settings.key_vault_read_timeout_seconds
        )

    @classmethod
    def provider(cls, settings: Settings) -> Timeouts:
        return cls(
            settings.provider_connect_timeout_seconds, settings.provider_read_timeout_seconds
        )

    @property
    def pair(self) -> tuple[float, float]:
        """``(connect, read)``, the form ``requests`` takes."""
        return (self.connect, self.read)

    @property
    def worst_case(self) -> float:
        """The longest one call with its retry can take (azure-core clients)."""
        return (self.connect + self.read) * (1 + AZURE_RETRIES) + AZURE_RETRY_BACKOFF_SECONDS

    def azure_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for an azure-core client (Tables, Key Vault): timeouts, one retry."""
        return {
            "connection_timeout": self.connect,
            "read_timeout": self.read,
            "retry_total": AZURE_RETRIES,
            "retry_connect": AZURE_RETRIES,
            "retry_read": AZURE_RETRIES,
            "retry_status": AZURE_RETRIES,
            "retry_backoff_factor": AZURE_RETRY_BACKOFF_SECONDS,
            "retry_backoff_max": AZURE_RETRY_BACKOFF_SECONDS * 2,
        }


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
# Enough for the webhooks and health probes of a busy instance; a full pool still answers in
# time (a queued task that has not started by the deadline is cancelled).
_POOL_SIZE = 32


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_POOL_SIZE, thread_name_prefix="deadline")
        return _pool


def submit(action: Callable[[], T]) -> Future[T]:
    """Start ``action`` on the deadline pool (with the caller's context: correlation id)."""
    context = contextvars.copy_context()
    return _executor().submit(context.run, action)


def run_within(seconds: float, action: Callable[[], T], what: str) -> T:
    """``action()``, or :class:`DeadlineExceeded` when it has not finished after ``seconds``."""
    future = submit(action)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout as exc:
        future.cancel()
        raise DeadlineExceeded(
            f"{what} did not finish within {seconds:g} s", deadline_seconds=seconds
        ) from exc
