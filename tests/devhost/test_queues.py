"""Queue triggers on the local host against Azurite: delivery, retries and poison messages."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage

from devhost.azurite import Azurite
from devhost.host import DevHost
from tests.devhost.sample_app import Recorder, build_app

pytestmark = pytest.mark.azurite


@pytest.fixture
def queues(azurite: Azurite) -> Iterator[dict[str, QueueClient]]:
    """Queue clients by name, closed after the test (open connections slow Azurite's stop)."""
    clients: dict[str, QueueClient] = {}
    yield clients
    for client in clients.values():
        client.close()


def _queue(azurite: Azurite, name: str, clients: dict[str, QueueClient]) -> QueueClient:
    if name not in clients:
        clients[name] = QueueClient.from_connection_string(azurite.connection_string, name)
    return clients[name]


def _app_dir(tmp_path: Path, **queues: object) -> Path:
    settings = {"maxPollingInterval": "00:00:01", **queues}
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"queues": settings}})
    )
    return tmp_path


@pytest.fixture
def names() -> str:
    return f"devhost-{uuid.uuid4().hex[:12]}"


def test_base64_queue_message_is_processed_and_deleted(
    azurite: Azurite, tmp_path: Path, names: str, queues: dict[str, QueueClient]
) -> None:
    recorder = Recorder()
    app = build_app(recorder, queue=names)
    settings = {"AzureWebJobsStorage": azurite.connection_string}
    with DevHost(app, app_dir=_app_dir(tmp_path), settings=settings) as host:
        host.start()  # creates the queue
        queue = _queue(azurite, names, queues)
        sent = queue.send_message(base64.b64encode(b'{"calendar": 1}').decode())
        # Idle means no invocation running and the queue empty: the message was deleted.
        host.wait_until_idle(timeout=15)
        (run,) = recorder.of("work")
        assert queue.get_queue_properties().approximate_message_count == 0
    assert run["body"] == b'{"calendar": 1}'
    assert run["id"] == sent.id
    assert run["dequeue_count"] == 1
    assert run["inserted"] is not None


def test_plain_text_queue_message_when_encoding_is_none(
    azurite: Azurite, tmp_path: Path, names: str, queues: dict[str, QueueClient]
) -> None:
    recorder = Recorder()
    settings = {"AzureWebJobsStorage": azurite.connection_string}
    app_dir = _app_dir(tmp_path, messageEncoding="none")
    with DevHost(build_app(recorder, queue=names), app_dir=app_dir, settings=settings) as host:
        host.start()
        _queue(azurite, names, queues).send_message("plain text")
        (run,) = recorder.wait_for("work", 1)
    assert run["body"] == b"plain text"


def test_failing_message_is_retried_then_moved_to_the_poison_queue(
    azurite: Azurite, tmp_path: Path, names: str, queues: dict[str, QueueClient]
) -> None:
    recorder = Recorder()
    app_dir = _app_dir(tmp_path, maxDequeueCount=3, visibilityTimeout="00:00:01")
    settings = {"AzureWebJobsStorage": azurite.connection_string}
    raw = base64.b64encode(b"doomed").decode()
    with DevHost(build_app(recorder, failing_queue=names), app_dir=app_dir, settings=settings) as h:
        h.start()
        _queue(azurite, names, queues).send_message(raw)
        runs = recorder.wait_for("always_fails", 3, timeout=20)
        poison = _queue(azurite, f"{names}-poison", queues)
        deadline = time.monotonic() + 10
        moved: list[QueueMessage] = []
        while not moved:
            assert time.monotonic() < deadline, "message never reached the poison queue"
            time.sleep(0.1)
            # The host creates the poison queue when it first needs it.
            with contextlib.suppress(ResourceNotFoundError):
                moved = list(poison.receive_messages())
        time.sleep(1.5)  # longer than visibilityTimeout: a fourth delivery would have happened
    assert [run["dequeue_count"] for run in runs] == [1, 2, 3]
    assert len(recorder.of("always_fails")) == 3
    assert [m.content for m in moved] == [raw]  # moved unchanged
    assert _queue(azurite, names, queues).get_queue_properties().approximate_message_count == 0


def test_message_dequeued_too_often_elsewhere_goes_to_poison_without_running(
    azurite: Azurite, tmp_path: Path, names: str, queues: dict[str, QueueClient]
) -> None:
    recorder = Recorder()
    queue = _queue(azurite, names, queues)
    queue.create_queue()
    queue.send_message(base64.b64encode(b"crashed twice").decode())
    for _ in range(2):  # two deliveries that never completed (say, a crashed worker)
        (message,) = queue.receive_messages(max_messages=1)
        queue.update_message(message, visibility_timeout=0)
    app_dir = _app_dir(tmp_path, maxDequeueCount=1)
    settings = {"AzureWebJobsStorage": azurite.connection_string}
    with DevHost(build_app(recorder, queue=names), app_dir=app_dir, settings=settings) as host:
        host.start()
        poison = _queue(azurite, f"{names}-poison", queues)
        deadline = time.monotonic() + 10
        moved: list[QueueMessage] = []
        while not moved:
            assert time.monotonic() < deadline, "message never reached the poison queue"
            time.sleep(0.1)
            with contextlib.suppress(ResourceNotFoundError):
                moved = list(poison.receive_messages())
    assert recorder.of("work") == []
    assert base64.b64decode(moved[0].content) == b"crashed twice"


def test_a_batch_of_messages_runs_concurrently(
    azurite: Azurite, tmp_path: Path, names: str, queues: dict[str, QueueClient]
) -> None:
    recorder = Recorder()
    app_dir = _app_dir(tmp_path, batchSize=4, newBatchThreshold=0)
    settings = {"AzureWebJobsStorage": azurite.connection_string}
    queue = _queue(azurite, names, queues)
    queue.create_queue()
    for number in range(4):
        queue.send_message(base64.b64encode(str(number).encode()).decode())
    with DevHost(
        build_app(recorder, parallel_queue=names), app_dir=app_dir, settings=settings
    ) as host:
        host.start()
        runs = recorder.wait_for("parallel", 4)
    assert sorted(run["body"] for run in runs) == [b"0", b"1", b"2", b"3"]
    assert {run["dequeue_count"] for run in runs} == {1}


def test_queue_function_runs_on_demand_with_the_input_as_body(tmp_path: Path) -> None:
    # On-demand runs pass the input straight to the function; no storage is touched.
    recorder = Recorder()
    host = DevHost(build_app(recorder, queue="never-polled"), app_dir=tmp_path)

    host.invoke("work", '{"calendar": 2}')

    (run,) = recorder.of("work")
    assert run["body"] == b'{"calendar": 2}'
    assert run["dequeue_count"] == 1


def test_missing_storage_connection_fails_the_start(tmp_path: Path, names: str) -> None:
    host = DevHost(
        build_app(Recorder(), queue=names),
        app_dir=tmp_path,
        settings={"AzureWebJobsStorage": ""},
    )
    with pytest.raises(KeyError, match="AzureWebJobsStorage"):
        host.start()
