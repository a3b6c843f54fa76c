"""Timer triggers: fire each function on its NCRONTAB schedule, as the host's timer listener does.

NCRONTAB has six fields, seconds first
(``{second} {minute} {hour} {day} {month} {day-of-week}``); a TimeSpan (``hh:mm:ss``) means a
fixed interval. Schedules run in UTC (the host's ``WEBSITE_TIME_ZONE`` is not implemented).
https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.config import parse_timespan
from devhost.functions import FunctionEntry

logger = logging.getLogger("devhost")

# How late an occurrence may fire before the request says IsPastDue.
PAST_DUE_AFTER = dt.timedelta(seconds=1)


class TimerSchedule:
    """A parsed schedule that yields the next occurrence after a moment (UTC)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self.interval: dt.timedelta | None = None
        try:
            self.interval = dt.timedelta(seconds=parse_timespan(self.expression))
        except ValueError:
            fields = self.expression.split()
            if len(fields) != 6:
                raise ValueError(
                    f"timer schedule {expression!r} is neither NCRONTAB (6 fields, seconds "
                    "first) nor a TimeSpan"
                ) from None
            # Validates the expression now rather than at the first tick.
            croniter(self.expression, dt.datetime.now(dt.UTC), second_at_beginning=True)
        else:
            if self.interval <= dt.timedelta(0):
                raise ValueError(f"timer interval must be positive: {expression!r}")

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        if self.interval is not None:
            return moment + self.interval
        result: dt.datetime = croniter(self.expression, moment, second_at_beginning=True).get_next(
            dt.datetime
        )
        return result


async def _sleep_until(moment: dt.datetime, stopping: asyncio.Event) -> bool:
    """Sleep until ``moment``; False when the host began stopping first."""
    delay = (moment - dt.datetime.now(dt.UTC)).total_seconds()
    if delay <= 0:
        return not stopping.is_set()
    try:
        await asyncio.wait_for(stopping.wait(), timeout=delay)
    except TimeoutError:
        return True
    return False


async def run_timer(
    entry: FunctionEntry,
    schedule: TimerSchedule,
    run: Callable[[FunctionEntry, Any, str], Awaitable[Any]],
    stopping: asyncio.Event,
) -> None:
    """Fire ``entry`` on its schedule until ``stopping`` is set.

    Occurrences never overlap: the next one is computed after the current invocation ends, so
    occurrences missed while it ran are skipped (the host behaves the same way; the late one that
    does fire is marked past due). A failure is logged and the schedule goes on.
    """
    if getattr(entry.trigger, "run_on_startup", False):
        await _fire(entry, run, past_due=False, reason="Timer fired at startup (RunOnStartup)")
    moment = dt.datetime.now(dt.UTC)
    while not stopping.is_set():
        due = schedule.next_after(moment)
        if not await _sleep_until(due, stopping):
            return
        late = dt.datetime.now(dt.UTC) - due
        await _fire(entry, run, past_due=late > PAST_DUE_AFTER, reason=f"Timer fired at {due}")
        moment = max(due, dt.datetime.now(dt.UTC))


async def _fire(
    entry: FunctionEntry,
    run: Callable[[FunctionEntry, Any, str], Awaitable[Any]],
    *,
    past_due: bool,
    reason: str,
) -> None:
    # A failure was logged with its traceback by the invoker; the schedule goes on.
    with contextlib.suppress(Exception):
        await run(entry, TimerRequest(past_due=past_due), reason)
