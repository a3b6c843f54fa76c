"""The simulated world: every piece of simulator state hangs off one :class:`World`.

Areas (Microsoft identity, Graph, Google, Key Vault, faults) keep their own state objects, created
on first use with :meth:`World.area`, so that each area module owns its data model and the world
does not import them. One re-entrant lock guards everything: request handlers take it around
state changes (the simulator is a test tool; contention is not a concern).

Time: :meth:`World.now` is wall-clock time plus an offset that tests move forward
(``POST /_sim/clock``) to expire tokens, subscriptions and channels without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class World:
    """All simulator state. ``base_url`` is set by the server once it knows its port."""

    seed: int = 1
    base_url: str = "https://127.0.0.1"
    lock: threading.RLock = field(default_factory=threading.RLock)
    clock_offset: float = 0.0
    _areas: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def now(self) -> datetime:
        """The simulated current time (UTC, timezone-aware)."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset)

    def timestamp(self) -> float:
        """The simulated current time as a POSIX timestamp."""
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset += seconds

    def area(self, name: str, factory: Callable[[], T]) -> T:
        """The state object of an area, created by ``factory`` on first use."""
        with self.lock:
            if name not in self._areas:
                self._areas[name] = factory()
            return self._areas[name]  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Forget everything (tests call this between scenarios)."""
        with self.lock:
            self._areas.clear()
            self.clock_offset = 0.0
            self.rng = random.Random(self.seed)
