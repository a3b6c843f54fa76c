"""An in-memory :class:`~shared.storage.queues.QueueSender` for unit tests.

Passes ``tests/contract/test_queue_contract.py`` with the Azure adapter. A delayed message is
hidden until the injectable ``clock`` (seconds, like :func:`time.time`) reaches its visible-after
time, so tests move the clock instead of sleeping. :meth:`MemoryQueueSender.take` lets a test
play the queue trigger. ``sender.faults`` (a :class:`~shared.storage.faults.StoreFaults`) fails
calls on command, before or after a message is stored; unarmed it changes nothing.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.storage.faults import StoreFaults, lost_answer
from shared.storage.queue_rules import check_delay, check_queue_name, decode_body, encode_body
from shared.storage.queues import QueuedMessage


@dataclass
class _Stored:
    id: str
    content: bytes
    visible_at: float


class MemoryQueueSender:
    """Queues in a dict. ``clock`` defaults to :func:`time.time`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._queues: dict[str, list[_Stored]] = {}
        self.faults = StoreFaults()

    def _queue(self, name: str) -> list[_Stored]:
        check_queue_name(name)
        return self._queues.setdefault(name, [])

    def send(self, queue: str, body: Mapping[str, Any], *, delay_seconds: int = 0) -> None:
        check_delay(delay_seconds)
        content = encode_body(body)
        lose_answer = self.faults.entering("send", queue)
        with self._lock:
            self._queue(queue).append(
                _Stored(uuid.uuid4().hex, content, self._clock() + delay_seconds)
            )
        if lose_answer:
            raise lost_answer("send", queue)

    def _visible(self, queue: str) -> list[_Stored]:
        now = self._clock()
        return [m for m in self._queue(queue) if m.visible_at <= now]

    def peek(self, queue: str, max_messages: int = 32) -> list[QueuedMessage]:
        count = max(1, min(max_messages, 32))
        self.faults.entering("peek", queue)
        with self._lock:
            visible = self._visible(queue)[:count]
        return [QueuedMessage(m.id, decode_body(m.content), 0) for m in visible]

    def approximate_count(self, queue: str) -> int:
        # Like Azure's ApproximateMessagesCount, hidden (delayed) messages count too.
        with self._lock:
            return len(self._queue(queue))

    def take(self, queue: str) -> list[QueuedMessage]:
        """Remove and return the visible messages (what a queue trigger would receive)."""
        with self._lock:
            visible = self._visible(queue)
            taken = {m.id for m in visible}
            self._queues[queue] = [m for m in self._queue(queue) if m.id not in taken]
        return [QueuedMessage(m.id, decode_body(m.content), 1) for m in visible]

    def ping(self) -> None:
        """Answers unless a fault is armed for ``ping``: memory is always there."""
        self.faults.entering("ping", "")
