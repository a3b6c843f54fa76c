"""Microsoft Graph over httpx: one pooled client per process, the per-mailbox concurrency cap,
401 handling, short in-call retries, and the one place Graph errors become our exceptions.

Behaviour and where it comes from:

* Outlook allows 4 concurrent requests per app per mailbox; the 5th gets 429
  ``ApplicationThrottled`` "MailboxConcurrency" (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
  :data:`MAILBOX_CONCURRENCY` slots per mailbox per process keep us under it.
* 429/503/504 carry ``Retry-After`` (https://learn.microsoft.com/graph/throttling). Only a short
  one (at most :attr:`GraphHttp.max_in_call_wait` seconds, twice) is waited in the call; longer
  ones raise :class:`~shared.errors.Throttled` so the queue re-schedules with that delay.
* Other 5xx, timeouts and dropped connections are retried with backoff and jitter
  (:mod:`shared.providers.retry`), then become :class:`~shared.errors.ProviderUnavailable`.
* A 401 gets one forced token refresh and one resend (an access token revoked or expired early).
* With ``refresh_on_forbidden`` (app-only tokens), a 403 gets the same one refresh and resend:
  an app-only token carries the application permissions granted when it was issued (its
  ``roles`` claim, https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference),
  so after an admin grants consent a cached token would keep failing until it expires (about an
  hour). One request gets at most one forced refresh, whatever the status.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from shared.errors import (
    CursorExpired,
    PreconditionFailed,
    ProviderDenied,
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
    Throttled,
)
from shared.providers.base import TokenSource
from shared.providers.retry import RetryPolicy, parse_retry_after
from shared.settings import Settings, outbound_ssl_context

PROVIDER = "microsoft"
MAILBOX_CONCURRENCY = 4
# Waiting for a pooled connection (the per-mailbox limit holds calls back before this).
POOL_TIMEOUT_SECONDS = 30.0
DEFAULT_RETRY = RetryPolicy(attempts=3, base=0.2, cap=0.8)
# Longest Retry-After we accept without any value from Graph, and the cap on a parsed one.
DEFAULT_THROTTLE_SECONDS = 10.0
MAX_THROTTLE_SECONDS = 600.0
_THROTTLE_STATUSES = frozenset({429, 503, 504})

_clients: dict[tuple[str, str | None, float, float], httpx.Client] = {}
_slots: dict[str, threading.BoundedSemaphore] = {}
_registry_lock = threading.Lock()


def shared_client(settings: Settings) -> httpx.Client:
    """The process's Graph ``httpx.Client`` for these settings (connection reuse across calls)."""
    key = (
        settings.microsoft_graph_url,
        settings.provider_ca_bundle,
        settings.provider_connect_timeout_seconds,
        settings.provider_read_timeout_seconds,
    )
    with _registry_lock:
        client = _clients.get(key)
        if client is None or client.is_closed:
            client = httpx.Client(
                verify=outbound_ssl_context(settings),
                timeout=httpx.Timeout(
                    settings.provider_read_timeout_seconds,
                    connect=settings.provider_connect_timeout_seconds,
                    pool=POOL_TIMEOUT_SECONDS,
                ),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                headers={"Accept": "application/json"},
            )
            _clients[key] = client
        return client


def close_shared_clients() -> None:
    """Close every pooled client (tests, and the host at shutdown)."""
    with _registry_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


@contextmanager
def mailbox_slot(mailbox: str) -> Iterator[None]:
    """Hold one of the mailbox's :data:`MAILBOX_CONCURRENCY` request slots."""
    with _registry_lock:
        slot = _slots.get(mailbox.lower())
        if slot is None:
            slot = _slots[mailbox.lower()] = threading.BoundedSemaphore(MAILBOX_CONCURRENCY)
    with slot:
        yield


def _graph_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", response.text[:300]
    return str(error.get("code") or ""), str(error.get("message") or "")


def map_error(response: httpx.Response, *, retry_after: float | None = None) -> ProviderError:
    """A Graph error response as our exception: the one mapping for the whole adapter.

    401 -> ProviderDenied (after our one refresh), 403 -> ProviderDenied, 404 -> ProviderNotFound,
    410 -> CursorExpired (a delta token Graph no longer knows: ``SyncStateNotFound``),
    412 -> PreconditionFailed, 429 -> Throttled, 5xx -> ProviderUnavailable, else ProviderError.
    """
    code, message = _graph_error(response)
    status = response.status_code
    detail = f"Graph {response.request.method} {response.request.url.path}: {status} {code}: "
    detail += message
    extra = {"status_code": status}
    if status == 401:
        return ProviderDenied(
            detail, provider=PROVIDER, provider_code=code or "InvalidAuthenticationToken", **extra
        )
    if status == 403:
        return ProviderDenied(detail, provider=PROVIDER, provider_code=code, **extra)
    if status == 404:
        return ProviderNotFound(detail, provider=PROVIDER, provider_code=code, **extra)
    if status == 410:
        return CursorExpired(detail, provider=PROVIDER, provider_code=code, **extra)
    if status == 412:
        return PreconditionFailed(detail, provider=PROVIDER, provider_code=code, **extra)
    if status in _THROTTLE_STATUSES and (status == 429 or retry_after is not None):
        wait = retry_after if retry_after is not None else DEFAULT_THROTTLE_SECONDS
        return Throttled(detail, provider=PROVIDER, retry_after=wait, provider_code=code, **extra)
    if status >= 500:
        return ProviderUnavailable(detail, provider=PROVIDER, provider_code=code, **extra)
    return ProviderError(detail, provider=PROVIDER, provider_code=code, **extra)


class GraphHttp:
    """Sends Graph requests for one mailbox with one :class:`TokenSource`.

    Args:
        settings: ``MICROSOFT_GRAPH_URL`` and ``PROVIDER_CA_BUNDLE`` are used.
        tokens: bearer tokens; called with ``force_refresh=True`` once after a 401.
        mailbox: the concurrency key (a user id or address; ``me`` callers pass theirs).
        http: an ``httpx.Client`` to use instead of the process's shared one.
        retry: backoff for 5xx/timeouts/resets; ``max_in_call_wait``: the longest Retry-After
        slept inside a call; ``sleep``: injectable for tests of timing.
        refresh_on_forbidden: also refresh the token once after a 403 (app-only tokens, whose
            permissions are fixed at issue time).
    """

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        *,
        mailbox: str,
        http: httpx.Client | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_in_call_wait: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        refresh_on_forbidden: bool = False,
    ) -> None:
        self.refresh_on_forbidden = refresh_on_forbidden
        self.base_url = settings.microsoft_graph_url.rstrip("/")
        self._tokens = tokens
        self._mailbox = mailbox
        self._http = http or shared_client(settings)
        self._retry = retry
        self.max_in_call_wait = max_in_call_wait
        self._sleep = sleep

    def url(self, path_or_url: str) -> str:
        """An absolute Graph URL; absolute URLs (nextLink/deltaLink) must be under the base."""
        if path_or_url.startswith(("https://", "http://")):
            if not path_or_url.startswith(self.base_url + "/"):
                # Never send a bearer token to a host Graph did not give us.
                raise ProviderError(
                    "a Graph link outside the configured Graph URL was refused",
                    provider=PROVIDER,
                    provider_code="untrusted_link",
                )
            return path_or_url
        return self.base_url + "/" + path_or_url.lstrip("/")

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send, handling 401/throttling/transient faults; a 2xx/3xx response or an exception
        from :func:`map_error`."""
        url = self.url(path_or_url)
        delays = self._retry.delays()
        refreshed = False
        throttle_waits = 0
        force_refresh = False
        while True:
            token = self._tokens(force_refresh=force_refresh)
            force_refresh = False
            sent = {"Authorization": f"Bearer {token}", **(headers or {})}
            try:
                with mailbox_slot(self._mailbox):
                    response = self._http.request(
                        method, url, params=params, json=json, headers=sent
                    )
            except httpx.TransportError as exc:  # timeouts, resets, refused connections
                # A read that timed out already waited the whole read timeout: Graph is hung,
                # and trying again would only multiply the wait of the caller.
                hung = isinstance(exc, httpx.TimeoutException) and not isinstance(
                    exc, httpx.ConnectTimeout
                )
                delay = None if hung else next(delays, None)
                if delay is None:
                    raise ProviderUnavailable(
                        f"Graph {method} {httpx.URL(url).path}: {type(exc).__name__}: {exc}",
                        provider=PROVIDER,
                        provider_code=type(exc).__name__,
                    ) from exc
                self._sleep(delay)
                continue
            status = response.status_code
            if status < 400:
                return response
            if not refreshed and (status == 401 or (status == 403 and self.refresh_on_forbidden)):
                refreshed = force_refresh = True
                continue
            header = response.headers.get("retry-after")
            if status in _THROTTLE_STATUSES and header is not None:
                wait = parse_retry_after(header, DEFAULT_THROTTLE_SECONDS, MAX_THROTTLE_SECONDS)
                if wait <= self.max_in_call_wait and throttle_waits < 2:
                    throttle_waits += 1
                    self._sleep(wait)
                    continue
                raise map_error(response, retry_after=wait)
            if status >= 500:
                delay = next(delays, None)
                if delay is not None:
                    self._sleep(delay)
                    continue
            raise map_error(response)

    def get_json(self, path_or_url: str, **kwargs: Any) -> dict[str, Any]:
        body = self.request("GET", path_or_url, **kwargs).json()
        return body if isinstance(body, dict) else {}
