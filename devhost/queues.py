"""Queue triggers: poll Azure Queue storage the way the host's queue listener does.

Behaviour follows the Storage queue trigger reference
(https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#concurrency,
#poison-messages, #polling-algorithm):

- messages are fetched ``batchSize`` at a time and run concurrently; the next batch is fetched once
  the number still running drops to ``newBatchThreshold``;
- a fetched message is hidden for 10 minutes while it runs; success deletes it; failure makes it
  visible again after ``visibilityTimeout``;
- a message that failed ``maxDequeueCount`` times is copied to ``<queue>-poison`` unchanged and
  deleted (one already dequeued more often than that goes there without running);
- with nothing to do, polling backs off exponentially from 100 ms up to ``maxPollingInterval``.

Message text is read raw (no SDK encode policy) and base64-decoded here when ``messageEncoding`` is
``base64``, so a poison message keeps exactly the text that was sent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage as FunctionsQueueMessage

from devhost.config import QueueSettings
from devhost.functions import FunctionEntry

if TYPE_CHECKING:
    # Only types: the storage SDK loads when the host starts (devhost.runtime), not at import.
    from azure.storage.queue import QueueClient, QueueMessage

logger = logging.getLogger("devhost")

T = TypeVar("T")

# The queue listener keeps a message invisible for 10 minutes while the function runs.
PROCESSING_VISIBILITY_SECONDS = 600


def decode_body(text: str | None, encoding: str) -> bytes:
    """The message body the function sees, from the queue's raw text."""
    raw = text or ""
    if encoding == "none":
        return raw.encode("utf-8")
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise ValueError(
            "message is not valid base64 (host.json messageEncoding is base64)"
        ) from exc


def to_function_message(message: QueueMessage, body: bytes) -> FunctionsQueueMessage:
    """A ``func.QueueMessage`` with the metadata the worker fills in from the trigger."""
    return FunctionsQueueMessage(  # type: ignore[no-untyped-call]
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        time_next_visible=message.next_visible_on,
        pop_receipt=message.pop_receipt,
    )


def message_from_input(text: str | None) -> FunctionsQueueMessage:
    """The message an admin-API invocation passes: the input as the body, never queued."""
    now = dt.datetime.now(dt.UTC)
    return FunctionsQueueMessage(  # type: ignore[no-untyped-call]
        id=None,
        body=(text or "").encode("utf-8"),
        dequeue_count=1,
        insertion_time=now,
        expiration_time=now + dt.timedelta(days=7),
        time_next_visible=now,
        pop_receipt=None,
    )


class QueueListener:
    """Polls one queue for one function until stopped."""

    def __init__(
        self,
        entry: FunctionEntry,
        client: QueueClient,
        poison: QueueClient,
        settings: QueueSettings,
        run: Callable[[FunctionEntry, Any, str], Awaitable[Any]],
        io: ThreadPoolExecutor,
    ) -> None:
        self.entry = entry
        self.client = client
        self.poison = poison
        self.settings = settings
        self.run = run
        self.io = io
        self._poison_ready = False

    async def _io(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # Storage calls block; run them on their own pool so busy functions cannot starve polling.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.io, lambda: call(*args, **kwargs))

    async def prepare(self) -> None:
        """Create the queue if it does not exist yet."""
        with contextlib.suppress(ResourceExistsError):
            await self._io(self.client.create_queue)

    async def listen(self, stopping: asyncio.Event, grace: float) -> None:
        """Poll and dispatch until ``stopping`` is set, then let running messages finish
        for up to ``grace`` seconds (unfinished ones reappear after their visibility timeout)."""
        settings = self.settings
        running: set[asyncio.Task[None]] = set()
        delay = settings.min_polling_interval
        while not stopping.is_set():
            fetched = 0
            if len(running) <= settings.new_batch_threshold:
                try:
                    messages = await self._io(self._receive, settings.batch_size)
                except Exception:
                    logger.exception("polling queue %s failed", self.client.queue_name)
                    messages = []
                for message in messages:
                    task = asyncio.create_task(self._process(message))
                    running.add(task)
                    task.add_done_callback(running.discard)
                fetched = len(messages)
            if fetched:
                delay = settings.min_polling_interval
                continue
            if running and len(running) > settings.new_batch_threshold:
                # Wait for room below the threshold (or a stop) before fetching again.
                stop_wait = asyncio.create_task(stopping.wait())
                await asyncio.wait([*running, stop_wait], return_when=asyncio.FIRST_COMPLETED)
                stop_wait.cancel()
                continue
            try:
                await asyncio.wait_for(stopping.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, settings.max_polling_interval)
        if running:
            await asyncio.wait(running, timeout=grace)
            for task in running:
                task.cancel()

    def _receive(self, count: int) -> list[QueueMessage]:
        return list(
            self.client.receive_messages(
                messages_per_page=count,
                max_messages=count,
                visibility_timeout=PROCESSING_VISIBILITY_SECONDS,
            )
        )

    async def _process(self, message: QueueMessage) -> None:
        settings = self.settings
        if message.dequeue_count is not None and message.dequeue_count > settings.max_dequeue_count:
            await self._to_poison(message)
            return
        try:
            body = decode_body(message.content, settings.message_encoding)
        except ValueError as exc:
            # The host fails such a message like any other failed invocation.
            logger.error("queue %s message %s: %s", self.client.queue_name, message.id, exc)
            await self._after_failure(message)
            return
        reason = f"New queue message detected on '{self.client.queue_name}'."
        try:
            await self.run(self.entry, to_function_message(message, body), reason)
        except Exception:
            await self._after_failure(message)  # the invoker logged the failure
            return
        try:
            await self._io(self.client.delete_message, message)
        except Exception:
            logger.exception(
                "deleting message %s from %s failed", message.id, self.client.queue_name
            )

    async def _after_failure(self, message: QueueMessage) -> None:
        try:
            if (message.dequeue_count or 0) >= self.settings.max_dequeue_count:
                await self._to_poison(message)
            else:
                await self._io(
                    self.client.update_message,
                    message,
                    visibility_timeout=round(self.settings.visibility_timeout),
                )
        except Exception:
            logger.exception(
                "releasing message %s on %s failed", message.id, self.client.queue_name
            )

    async def _to_poison(self, message: QueueMessage) -> None:
        logger.warning(
            "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
            self.settings.max_dequeue_count,
            self.poison.queue_name,
        )
        if not self._poison_ready:
            with contextlib.suppress(ResourceExistsError):
                await self._io(self.poison.create_queue)
            self._poison_ready = True
        await self._io(self.poison.send_message, message.content)
        await self._io(self.client.delete_message, message)
