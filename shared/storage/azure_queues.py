"""Azure Queue storage (and Azurite) behind :class:`~shared.storage.queues.QueueSender`.

Built on azure-storage-queue 12.18. Messages are JSON, UTF-8, then base64: the Functions host's
default ``messageEncoding`` for queue triggers is ``base64``
(https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json),
so the SDK's ``BinaryBase64EncodePolicy`` does the last step. One ``QueueServiceClient`` per
sender (one connection pool); queues are created on first use, once per queue per process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    LinearRetry,
    QueueClient,
    QueueServiceClient,
)

from shared.errors import BadRequest, ServiceError, StorageUnavailable
from shared.storage.queue_rules import check_delay, check_queue_name, decode_body, encode_body
from shared.storage.queues import QueuedMessage
from shared.storage.transport import client_kwargs

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

T = TypeVar("T")


def _translate(exc: AzureError, what: str) -> ServiceError:
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        if 400 <= status < 500 and status not in (401, 403, 408, 429):
            return BadRequest(f"{what}: rejected by Queue storage ({exc.reason})")
    return StorageUnavailable(f"{what}: {type(exc).__name__}")


def _options(client_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """azure-core keywords for the queue client. Queue storage takes its retry as a policy
    object (its default, ``ExponentialRetry``, waits 15 s before the first retry), so the
    ``retry_*`` keywords become a ``LinearRetry`` with the same count and pause."""
    options = dict(client_options or {})
    if "retry_total" in options:
        total = int(options.pop("retry_total"))
        backoff = float(options.pop("retry_backoff_factor", 0.5))
        for key in ("retry_connect", "retry_read", "retry_status", "retry_backoff_max"):
            options.pop(key, None)
        options["retry_policy"] = LinearRetry(
            backoff=backoff,  # type: ignore[arg-type]
            random_jitter_range=0,
            retry_total=total,
        )
    return options


class AzureQueueSender:
    """Sends JSON messages to Azure storage queues.

    Construct with :meth:`from_connection_string` (Azurite, account keys) or with the account's
    queue endpoint (``https://<account>.queue.core.windows.net``) and an azure-core
    ``TokenCredential`` (managed identity; needs the "Storage Queue Data Message Sender" role,
    plus "Reader" on the queue for ``peek``/``approximate_count``).
    """

    def __init__(
        self,
        account_url: str,
        credential: TokenCredential | None = None,
        *,
        client_options: Mapping[str, Any] | None = None,
        _service: QueueServiceClient | None = None,
    ) -> None:
        self._service = _service or QueueServiceClient(
            account_url, credential=credential, **client_kwargs(_options(client_options))
        )
        self._clients: dict[str, QueueClient] = {}
        self._created: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_connection_string(
        cls, connection_string: str, *, client_options: Mapping[str, Any] | None = None
    ) -> AzureQueueSender:
        """A sender for an account connection string (Azurite's included). ``client_options``
        are azure-core client keywords: timeouts and retries (:mod:`shared.deadlines`)."""
        service = QueueServiceClient.from_connection_string(
            connection_string, **client_kwargs(_options(client_options))
        )
        return cls(service.url, _service=service)

    @staticmethod
    def _call(what: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except AzureError as exc:
            raise _translate(exc, what) from exc

    def _client(self, queue: str) -> QueueClient:
        check_queue_name(queue)
        with self._lock:
            client = self._clients.get(queue)
            if client is None:
                client = self._service.get_queue_client(
                    queue,
                    message_encode_policy=BinaryBase64EncodePolicy(),
                    message_decode_policy=BinaryBase64DecodePolicy(),
                )
                self._clients[queue] = client
            if queue in self._created:
                return client
        self._call(f"create queue {queue}", lambda: self._ensure_queue(client))
        with self._lock:
            self._created.add(queue)
        return client

    @staticmethod
    def _ensure_queue(client: QueueClient) -> None:
        try:
            client.create_queue()
        except ResourceExistsError:
            return

    def send(self, queue: str, body: Mapping[str, Any], *, delay_seconds: int = 0) -> None:
        check_delay(delay_seconds)
        content = encode_body(body)
        client = self._client(queue)
        self._call(
            f"send to {queue}",
            lambda: client.send_message(content, visibility_timeout=delay_seconds or None),
        )

    def peek(self, queue: str, max_messages: int = 32) -> list[QueuedMessage]:
        client = self._client(queue)
        # Queue storage peeks at most 32 messages per request.
        count = max(1, min(max_messages, 32))
        raw = self._call(f"peek {queue}", lambda: client.peek_messages(max_messages=count))
        return [
            QueuedMessage(id=m.id, body=decode_body(m.content), dequeue_count=m.dequeue_count or 0)
            for m in raw
        ]

    def approximate_count(self, queue: str) -> int:
        client = self._client(queue)
        props = self._call(f"count {queue}", client.get_queue_properties)
        return int(props.approximate_message_count or 0)

    def ping(self) -> None:
        self._call("ping queue service", self._service.get_service_properties)

    def close(self) -> None:
        """Close the pooled connections (tests, shutdown)."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
            self._created.clear()
        for client in clients:
            client.close()
        self._service.close()
