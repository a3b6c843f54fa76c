"""Storage failures on command, for the in-memory stores (unit tests and the state machine).

Azure Table and Queue storage can fail any call: refuse it before anything was written (a 503,
a timeout on connect), or apply it and lose the answer (a timeout on read, a crash of the
caller right after the write). Code that must survive both is tested by arming a
:class:`StoreFaults` that :class:`~shared.storage.memory_tables.MemoryTableStore` and
:class:`~shared.storage.memory_queues.MemoryQueueSender` consult on every call:

* :meth:`StoreFaults.fail` makes the next matching call(s) raise ``StorageUnavailable``, before
  the call takes effect or, with ``applied=True``, after it took effect;
* :meth:`StoreFaults.before` runs a function once just before the next matching call (another
  party acting at that exact moment).

Unarmed (the default), the stores behave exactly as their contract tests describe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.errors import StorageUnavailable

WRITES = frozenset({"insert", "upsert", "update", "delete", "transact", "send"})
ANY = "*"
WRITE = "write"


@dataclass
class _Rule:
    operation: str
    target: str
    skip: int
    times: int
    applied: bool
    hook: Callable[[], None] | None = None

    def matches(self, operation: str, target: str) -> bool:
        if self.target not in (ANY, target):
            return False
        if self.operation == WRITE:
            return operation in WRITES
        return self.operation in (ANY, operation)


class StoreFaults:
    """The failures armed for one store; thread-safe. ``fired`` counts failures raised."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._suspended = 0
        self.fired = 0

    def fail(
        self,
        operation: str = ANY,
        target: str = ANY,
        *,
        skip: int = 0,
        times: int = 1,
        applied: bool = False,
    ) -> None:
        """Fail ``times`` matching calls after letting ``skip`` pass.

        ``operation`` is a method name (``get``, ``query``, ``insert``, ``upsert``, ``update``,
        ``delete``, ``transact``, ``send``, ``peek``), ``"write"`` for any write, or ``"*"``;
        ``target`` a table or queue name or ``"*"``. ``applied=True`` lets a write take effect
        and then raises (the answer was lost); for reads it is the same as ``False``.
        """
        with self._lock:
            self._rules.append(_Rule(operation, target, skip, times, applied))

    def before(self, operation: str, target: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` once, just before the next matching call (outside the store's lock)."""
        with self._lock:
            self._rules.append(_Rule(operation, target, 0, 1, False, hook))

    def clear(self) -> None:
        """Disarm everything still armed."""
        with self._lock:
            self._rules.clear()

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Within the block nothing fails and no hook runs (an observer's reads); what is armed
        stays armed for the calls after it."""
        with self._lock:
            self._suspended += 1
        try:
            yield
        finally:
            with self._lock:
                self._suspended -= 1

    @property
    def armed(self) -> bool:
        with self._lock:
            return bool(self._rules)

    def entering(self, operation: str, target: str) -> bool:
        """Called by a store before a call: runs hooks, raises a failure armed for before the
        call, and returns whether the call must fail once it has been applied."""
        hooks: list[Callable[[], None]] = []
        fail_now = fail_after = False
        with self._lock:
            if self._suspended:
                return False
            for rule in list(self._rules):
                if not rule.matches(operation, target):
                    continue
                if rule.hook is not None:
                    hooks.append(rule.hook)
                    self._rules.remove(rule)
                    continue
                if fail_now or fail_after:
                    continue  # one failure per call; later rules wait for later calls
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                rule.times -= 1
                if rule.times <= 0:
                    self._rules.remove(rule)
                if rule.applied and operation in WRITES:
                    fail_after = True
                else:
                    fail_now = True
            if fail_now or fail_after:
                self.fired += 1
        for hook in hooks:
            hook()
        if fail_now:
            raise StorageUnavailable(f"injected fault: {operation} {target} refused")
        return fail_after


def lost_answer(operation: str, target: str) -> StorageUnavailable:
    """The error a store raises after applying a call whose answer is to be lost."""
    return StorageUnavailable(f"injected fault: {operation} {target} applied, answer lost")
