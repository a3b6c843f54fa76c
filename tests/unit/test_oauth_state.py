"""OAuth state: forged, replayed and expired states are refused; a fresh one works once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import ManualClock
from shared.consent.oauth_state import OAuthStates
from shared.errors import BadRequest
from shared.secrets.memory_store import MemorySecretStore
from shared.storage.memory_tables import MemoryTableStore

Fixture = tuple[OAuthStates, ManualClock, MemorySecretStore]


@pytest.fixture
def states() -> Fixture:
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    secret_store = MemorySecretStore()
    return OAuthStates(MemoryTableStore(), secret_store, clock), clock, secret_store


def issue(states: OAuthStates) -> str:
    state = states.issue(
        purpose="connect",
        org="contoso",
        subject="alice",
        integration_id="i-1",
        return_to="http://localhost:3000/settings",
    )
    states.attach_flow(state, {"code_verifier": "v" * 43})
    return state


def test_a_fresh_state_is_accepted_once_and_returns_its_flow(states: Fixture) -> None:
    store, _, _ = states
    state = issue(store)
    pending = store.consume(state, purpose="connect")
    assert (pending.org, pending.subject, pending.integration_id) == ("contoso", "alice", "i-1")
    assert pending.flow == {"code_verifier": "v" * 43}
    with pytest.raises(BadRequest) as replayed:
        store.consume(state)
    assert replayed.value.code == "replayed_state"


def test_a_forged_state_is_refused(states: Fixture) -> None:
    store, _, _ = states
    payload, _, mac = issue(store).partition(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    for forged in (f"{tampered}.{mac}", f"{payload}.{mac[:-1]}x", "not-a-state", ""):
        with pytest.raises(BadRequest) as refused:
            store.consume(forged)
        assert refused.value.code == "forged_state"


def test_an_expired_state_is_refused_and_its_secrets_removed(states: Fixture) -> None:
    store, clock, secret_store = states
    state = issue(store)
    clock.advance(timedelta(minutes=10, seconds=1))
    with pytest.raises(BadRequest) as refused:
        store.consume(state)
    assert refused.value.code == "expired_state"
    assert [n for n in secret_store.names("oauth-flow-")] == []


def test_a_state_for_another_flow_is_refused(states: Fixture) -> None:
    store, _, _ = states
    with pytest.raises(BadRequest) as refused:
        store.consume(issue(store), purpose="test")
    assert refused.value.code == "forged_state"


def test_unused_states_are_purged_after_expiry(states: Fixture) -> None:
    store, clock, secret_store = states
    issue(store)
    issue(store)
    assert store.purge_expired() == 0
    clock.advance(timedelta(minutes=11))
    assert store.purge_expired() == 2
    assert list(secret_store.names("oauth-flow-")) == []
