"""Sync queue messages: what the worker accepts, and the retry counters it carries."""

from __future__ import annotations

import pytest

from shared.sync.worker import (
    BACKOFF_CAP,
    BatchMessage,
    NotifiedMessage,
    SyncMessage,
    backoff_seconds,
    parse_message,
)


def test_a_message_round_trips_with_its_own_counter_per_fault_kind() -> None:
    message = SyncMessage("org-1", "int-1:ana", "renew", attempt=2, throttled=3, raced=1)
    assert message.body() == {
        "org": "org-1",
        "calendar": "int-1:ana",
        "action": "renew",
        "attempt": 2,
        "throttled": 3,
        "raced": 1,
    }
    assert parse_message(message.body()) == message
    # Single-calendar messages may carry no counters; bad counters count as none.
    assert parse_message({"org": "o", "calendar": "c"}) == SyncMessage("o", "c")
    assert parse_message({"org": "o", "calendar": "c", "attempt": -1, "throttled": True}) == (
        SyncMessage("o", "c")
    )


def test_a_webhooks_message_lists_the_calendars_it_verified() -> None:
    body = {"notified": [["o", "int-1:ana", "graph"], ["p", "int-2:bob", "google"]]}
    assert parse_message(body) == NotifiedMessage(
        (("o", "int-1:ana", "graph"), ("p", "int-2:bob", "google"))
    )


def test_the_cycles_packed_message_round_trips_with_the_calendars_to_renew() -> None:
    message = BatchMessage("org-1", "b-1", ("int-1:ana", "int-1:bob"), frozenset({"int-1:bob"}))
    assert message.body() == {
        "org": "org-1",
        "calendars": ["int-1:ana", "int-1:bob"],
        "batch": "b-1",
        "renew": ["int-1:bob"],
    }
    assert parse_message(message.body()) == message
    assert parse_message({"org": "o", "batch": "b", "calendars": ["c"]}) == BatchMessage(
        "o", "b", ("c",)
    )


@pytest.mark.parametrize(
    "body",
    [[], "org", {"org": "o"}, {"calendar": "c"}, {"org": "", "calendar": "c"},
     {"org": "o", "calendar": "c", "action": "purge"},
     {"org": "o", "calendars": ["c"]}, {"org": "o", "batch": "b", "calendars": []},
     {"org": "o", "batch": "b", "calendars": "c"}, {"org": "o", "batch": "b", "calendars": [1]},
     {"org": "o", "batch": "b", "calendars": ["c"], "renew": "c"},
     {"notified": "x"}, {"notified": [["o", "c"]]}, {"notified": [["o", "", "graph"]]}],
)  # fmt: skip
def test_a_malformed_message_is_refused(body: object) -> None:
    with pytest.raises(ValueError, match=r"sync message|sync action"):
        parse_message(body)


def test_backoff_grows_with_full_jitter_up_to_the_cap() -> None:
    for attempt in range(12):
        ceiling = min(BACKOFF_CAP, 2.0 * 2**attempt)
        for _ in range(50):
            assert max(1, ceiling / 2) <= backoff_seconds(attempt) <= ceiling + 1
    assert max(backoff_seconds(20) for _ in range(50)) <= BACKOFF_CAP
