"""The queue interface: JSON messages to named storage queues.

Implementations: :class:`shared.storage.azure_queues.AzureQueueSender` (Azure Queue storage,
Azurite locally) and :class:`shared.storage.memory_queues.MemoryQueueSender` (unit tests); both pass
``tests/contract/test_queue_contract.py``. Queues are created on first use.

Consumers are Azure Functions queue triggers; the core only sends. Messages are JSON objects
encoded as UTF-8 text and then base64, the encoding the Functions host expects by default
(``host.json`` ``extensions.queues.messageEncoding`` = ``base64``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class QueuedMessage:
    """A message as read back (used by health checks and tests, not by workers)."""

    id: str
    body: dict[str, Any]
    dequeue_count: int


class QueueSender(Protocol):
    """Sends work to queues. All methods may raise ``StorageUnavailable``."""

    def send(self, queue: str, body: Mapping[str, Any], *, delay_seconds: int = 0) -> None:
        """Enqueue ``body``; it becomes visible after ``delay_seconds`` (at most 7 days).

        ``Retry-After`` from a provider becomes this delay instead of a sleep in the worker.
        """

    def peek(self, queue: str, max_messages: int = 32) -> list[QueuedMessage]:
        """Visible messages without taking them (health view, tests)."""

    def approximate_count(self, queue: str) -> int:
        """Approximate number of messages, e.g. in a ``-poison`` queue."""

    def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the queue service answers."""
