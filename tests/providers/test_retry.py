"""Retry-After parsing and backoff: the shared helper both provider adapters use."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from shared.providers.retry import RetryableError, RetryPolicy, parse_retry_after


def test_retry_after_in_seconds_is_used_and_capped() -> None:
    assert parse_retry_after("30", default=5, cap=120) == 30.0
    assert parse_retry_after("0.5", default=5, cap=120) == 0.5
    assert parse_retry_after("86400", default=5, cap=120) == 120.0
    assert parse_retry_after("-3", default=5, cap=120) == 0.0


def test_missing_or_garbage_retry_after_falls_back_to_the_default() -> None:
    assert parse_retry_after(None, default=5, cap=120) == 5.0
    assert parse_retry_after("", default=5, cap=120) == 5.0
    assert parse_retry_after("soon", default=7, cap=120) == 7.0
    assert parse_retry_after("nan", default=7, cap=120) == 7.0


def test_retry_after_as_http_date_counts_from_now() -> None:
    now = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
    value = "Sat, 21 Nov 2026 10:00:45 GMT"
    assert parse_retry_after(value, default=5, cap=120, now=now) == 45.0
    past = "Sat, 21 Nov 2026 09:00:00 GMT"
    assert parse_retry_after(past, default=5, cap=120, now=now) == 0.0


def test_backoff_delays_grow_and_stay_under_the_cap() -> None:
    policy = RetryPolicy(attempts=6, base=0.1, cap=0.5)
    rng = random.Random(7)
    delays = list(policy.delays(rng))
    assert len(delays) == 5
    bounds = [0.1, 0.2, 0.4, 0.5, 0.5]
    assert all(0.0 <= d <= b for d, b in zip(delays, bounds, strict=True))


def test_run_retries_then_succeeds_sleeping_between_attempts() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetryableError(ValueError("transient"))
        return "ok"

    assert RetryPolicy(attempts=3).run(flaky, sleep=slept.append) == "ok"
    assert len(calls) == 3
    assert len(slept) == 2


def test_run_raises_the_final_error_when_attempts_run_out() -> None:
    slept: list[float] = []

    def always() -> str:
        raise RetryableError(LookupError("still down"), delay=0.01)

    with pytest.raises(LookupError, match="still down"):
        RetryPolicy(attempts=2).run(always, sleep=slept.append)
    assert slept == [0.01]


def test_errors_not_listed_are_not_retried() -> None:
    calls: list[int] = []

    def broken() -> str:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        RetryPolicy(attempts=5).run(broken, retry_on=(OSError,), sleep=lambda _: None)
    assert calls == [1]
