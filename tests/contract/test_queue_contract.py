"""The QueueSender contract: memory and Azure (on Azurite) behave the same."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from shared.errors import BadRequest
from shared.storage.azure_queues import AzureQueueSender
from shared.storage.memory_queues import MemoryQueueSender
from shared.storage.queues import QueueSender

_counter = itertools.count()


@dataclass
class Subject:
    sender: QueueSender
    wait: Callable[[float], None]  # let this many seconds pass


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["memory", "azure"])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    if request.param == "memory":
        clock = FakeClock()
        yield Subject(MemoryQueueSender(clock), clock.advance)
        return
    azurite: Azurite = request.getfixturevalue("azurite")
    sender = AzureQueueSender.from_connection_string(azurite.connection_string)
    yield Subject(sender, time.sleep)
    sender.close()


@pytest.fixture
def queue() -> str:
    return f"contract-{next(_counter)}-{time.time_ns()}"


def test_sent_messages_can_be_peeked_and_counted(subject: Subject, queue: str) -> None:
    sender = subject.sender
    assert sender.approximate_count(queue) == 0
    assert sender.peek(queue) == []
    sender.send(queue, {"calendar": "c1", "attempt": 1, "name": "Zoë"})
    sender.send(queue, {"calendar": "c2"})
    peeked = sender.peek(queue)
    assert [m.body for m in peeked] == [
        {"calendar": "c1", "attempt": 1, "name": "Zoë"},
        {"calendar": "c2"},
    ]
    assert all(m.id for m in peeked)
    assert all(m.dequeue_count == 0 for m in peeked)
    assert sender.approximate_count(queue) == 2
    assert len(sender.peek(queue, max_messages=1)) == 1


def test_a_delayed_message_stays_hidden_until_its_delay_passes(
    subject: Subject, queue: str
) -> None:
    sender = subject.sender
    sender.send(queue, {"retry": True}, delay_seconds=2)
    sender.send(queue, {"now": True})
    assert [m.body for m in sender.peek(queue)] == [{"now": True}]
    assert sender.approximate_count(queue) == 2  # hidden messages are counted
    deadline = time.monotonic() + 10
    subject.wait(2.2)
    while len(sender.peek(queue)) < 2 and time.monotonic() < deadline:
        subject.wait(0.2)
    assert sorted(json.dumps(m.body) for m in sender.peek(queue)) == [
        '{"now": true}',
        '{"retry": true}',
    ]


def test_invalid_queue_names_delays_and_oversized_messages_are_rejected(subject: Subject) -> None:
    sender = subject.sender
    for name in ("Upper", "a--b", "ab", "-ab", "a_b"):
        with pytest.raises(BadRequest):
            sender.send(name, {})
    with pytest.raises(BadRequest):
        sender.send("valid-name", {}, delay_seconds=-1)
    with pytest.raises(BadRequest):
        sender.send("valid-name", {}, delay_seconds=7 * 24 * 3600 + 1)
    with pytest.raises(BadRequest):
        sender.send("valid-name", {"x": "y" * 50_000})


def test_ping_answers(subject: Subject) -> None:
    subject.sender.ping()


def test_messages_are_base64_json_on_the_wire_as_the_functions_host_expects(
    azurite: Azurite, queue: str
) -> None:
    sender = AzureQueueSender.from_connection_string(azurite.connection_string)
    sender.send(queue, {"a": "é"})
    sender.close()
    raw = QueueClient.from_connection_string(azurite.connection_string, queue)
    (message,) = raw.peek_messages()
    assert json.loads(base64.b64decode(message.content)) == {"a": "é"}
    raw.close()
