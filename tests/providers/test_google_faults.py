"""Google faults through the adapter: rate limits become ``Throttled`` with the delay to wait,
transient 503s and dropped connections are retried in the call (shared retry policy), a 401 asks
the token source for a new token once. Faults come from the simulator's knobs, scoped to the
test's own Workspace domain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import ProviderDenied, ProviderUnavailable, Throttled
from shared.providers.google.auth import GoogleUserTokenSource
from shared.providers.google.calendar import GoogleCalendarClient
from shared.providers.retry import RetryPolicy
from tests.providers.google_support import Org, make_org

pytestmark = pytest.mark.simulator

DAY = (datetime.now(UTC), datetime.now(UTC) + timedelta(days=1))


@pytest.fixture
def org(simulator: Any) -> Iterator[Org]:
    for made in make_org(simulator):
        before = made.sim.faults()
        try:
            yield made
        finally:
            # Put back whatever rules were there: only this test's own rules go.
            made.sim.set_faults(before["rules"])


@pytest.fixture
def tokens(org: Org) -> GoogleUserTokenSource:
    return GoogleUserTokenSource(org.auth(), org.connect(org.ann).token_blob)


def test_rate_limit_429_is_throttled_with_the_retry_after_google_sent(
    org: Org, tokens: GoogleUserTokenSource
) -> None:
    org.sim.add_fault_rule(
        area="google", tenant=org.domain, throttle_probability=1.0, retry_after_seconds=7
    )
    with GoogleCalendarClient(org.settings, tokens) as client, pytest.raises(Throttled) as caught:
        client.events_between(*DAY)
    assert caught.value.retry_after == 7.0
    assert caught.value.provider_code == "rateLimitExceeded"


def test_rate_limit_as_403_is_throttled_too(org: Org, tokens: GoogleUserTokenSource) -> None:
    org.sim.add_fault_rule(
        area="google", tenant=org.domain, throttle_probability=1.0, throttle_status=403
    )
    with GoogleCalendarClient(org.settings, tokens) as client, pytest.raises(Throttled) as caught:
        client.events_between(*DAY)
    assert caught.value.provider_code == "rateLimitExceeded"
    assert caught.value.retry_after == 1.0


def test_transient_503s_are_retried_and_the_caller_never_sees_them(
    org: Org, tokens: GoogleUserTokenSource
) -> None:
    slept: list[float] = []
    patient = RetryPolicy(attempts=12, base=0.0, cap=0.0)
    org.sim.add_fault_rule(
        area="google", tenant=org.domain, unavailable_probability=0.3, retry_after_seconds=0
    )
    with GoogleCalendarClient(org.settings, tokens, retry=patient, sleep=slept.append) as client:
        for _ in range(40):
            assert client.events_between(*DAY) == []
    assert slept  # some requests met a 503 and were retried


def test_a_503_that_persists_ends_as_throttled_after_the_short_retries(
    org: Org, tokens: GoogleUserTokenSource
) -> None:
    slept: list[float] = []
    org.sim.add_fault_rule(
        area="google", tenant=org.domain, unavailable_probability=1.0, retry_after_seconds=1
    )
    with (
        GoogleCalendarClient(org.settings, tokens, sleep=slept.append) as client,
        pytest.raises(Throttled) as caught,
    ):
        client.events_between(*DAY)
    assert slept == [1.0, 1.0]  # Retry-After honoured between the three attempts
    assert caught.value.retry_after == 1.0
    assert caught.value.provider_code == "backendError"


def test_dropped_connections_are_retried_then_unavailable(
    org: Org, tokens: GoogleUserTokenSource
) -> None:
    slept: list[float] = []
    org.sim.add_fault_rule(area="google", tenant=org.domain, reset_probability=1.0)
    with (
        GoogleCalendarClient(org.settings, tokens, sleep=slept.append) as client,
        pytest.raises(ProviderUnavailable) as caught,
    ):
        client.events_between(*DAY)
    assert len(slept) == 2
    assert all(0.0 <= s <= 1.0 for s in slept)
    assert caught.value.provider == "google"


class StaleFirst:
    """A token source whose cached token was revoked: only a forced refresh gets a good one."""

    def __init__(self, real: GoogleUserTokenSource) -> None:
        self.real = real
        self.forced = 0

    def __call__(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.forced += 1
        return self.real(force_refresh=True) if self.forced else "stale-token"


def test_a_401_refreshes_the_token_once_and_the_call_succeeds(
    org: Org, tokens: GoogleUserTokenSource
) -> None:
    source = StaleFirst(tokens)
    with GoogleCalendarClient(org.settings, source) as client:
        assert client.events_between(*DAY) == []
        assert client.events_between(*DAY) == []
    assert source.forced == 1


def test_a_401_that_persists_after_the_refresh_is_denied(org: Org) -> None:
    calls: list[bool] = []

    def broken(*, force_refresh: bool = False) -> str:
        calls.append(force_refresh)
        return "never-valid"

    with (
        GoogleCalendarClient(org.settings, broken) as client,
        pytest.raises(ProviderDenied) as caught,
    ):
        client.events_between(*DAY)
    assert caught.value.provider_code == "authError"
    assert calls.count(True) == 1
