"""``Retry-After`` parsing and exponential backoff with jitter: the one place for both.

Provider adapters (Microsoft Graph, Google) use this for the *short, in-call* retries only:
a transient 5xx, a timeout or a reset connection is retried a few times with sub-second delays.
Anything longer (a 429 asking for 30 s) is not slept on inside an invocation: the adapter raises
:class:`~shared.errors.Throttled` with the parsed delay and the queue re-schedules the work with a
visibility delay (see docs/architecture.md and style.md rule 6).

``Retry-After`` is either delta-seconds or an HTTP-date (RFC 9110 section 10.2.3); Graph sends
seconds (https://learn.microsoft.com/graph/throttling), Google usually none, in which case the
caller's default applies. Backoff uses "full jitter" (AWS Architecture Blog, "Exponential
Backoff And Jitter"), which spreads retries of many workers hitting the same limit.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

T = TypeVar("T")


def parse_retry_after(
    value: str | None, default: float, cap: float, *, now: datetime | None = None
) -> float:
    """Seconds to wait according to a ``Retry-After`` header value.

    Args:
        value: the header value (delta-seconds or an HTTP-date), or ``None`` when absent.
        default: used when the value is absent or unparseable.
        cap: upper bound, so a hostile or broken server cannot park work for days.
        now: the current time for HTTP-date values (injectable for tests).

    Returns a float in ``[0, cap]``.
    """
    seconds = default
    if value is not None and value.strip():
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                seconds = (when - (now or datetime.now(UTC))).total_seconds()
        if seconds != seconds:  # NaN from float("nan")
            seconds = default
    return max(0.0, min(seconds, cap))


class RetryableError(Exception):
    """Raised by a :meth:`RetryPolicy.run` callable to ask for one more attempt.

    ``delay`` overrides the backoff delay for the next attempt (e.g. a short ``Retry-After``);
    ``final`` is what :meth:`RetryPolicy.run` raises when no attempt is left (defaults to self).
    """

    def __init__(self, final: BaseException | None = None, *, delay: float | None = None) -> None:
        super().__init__(str(final) if final is not None else "retryable")
        self.final = final
        self.delay = delay


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    ``attempts`` counts every try including the first; the delay before retry ``n`` (1-based) is
    uniform in ``[0, min(cap, base * 2 ** (n - 1))]``.
    """

    attempts: int = 3
    base: float = 0.2
    cap: float = 1.0

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The ``attempts - 1`` delays to sleep between attempts."""
        draw = rng.uniform if rng is not None else random.uniform
        for retry in range(1, self.attempts):
            yield draw(0.0, min(self.cap, self.base * 2 ** (retry - 1)))

    def run(
        self,
        fn: Callable[[], T],
        *,
        retry_on: tuple[type[BaseException], ...] = (RetryableError,),
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """Call ``fn`` until it returns, retrying on ``retry_on`` with backoff.

        When attempts are exhausted the last exception is raised; for a :class:`RetryableError`
        its ``final`` exception is raised instead (so callers can carry the typed error).
        """
        delays = self.delays()
        while True:
            try:
                return fn()
            except retry_on as exc:
                delay = next(delays, None)
                if delay is None:
                    if isinstance(exc, RetryableError) and exc.final is not None:
                        # Keeps final's own __cause__ (e.g. the httpx error); exc is its context.
                        raise exc.final  # noqa: B904
                    raise
                if isinstance(exc, RetryableError) and exc.delay is not None:
                    delay = exc.delay
                sleep(delay)
