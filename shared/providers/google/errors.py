"""Google API errors into :mod:`shared.errors`, and the in-call retry of transient failures.

The one place that reads Google's error bodies. Calendar v3 and the Admin SDK answer
``{"error": {"errors": [{"domain", "reason", "message"}], "code", "message"}}``
(https://developers.google.com/workspace/calendar/api/guides/errors); clients branch on
``errors[0].reason``:

====================================================  =============================================
401 (after ``AuthorizedHttp`` refreshed once)         ``ProviderDenied`` (``authError``)
403/429 ``rateLimitExceeded``, ``userRateLimitExceeded``,
``quotaExceeded``; any 429                            ``Throttled`` (``Retry-After`` or a default)
403 other (``insufficientPermissions``, ``forbidden``)  ``ProviderDenied`` with the reason
404, 410 ``deleted``                                  ``ProviderNotFound``
410 ``fullSyncRequired``, ``updatedMinTooLongAgo``    ``CursorExpired``
412 ``conditionNotMet``                               ``PreconditionFailed``
5xx, timeouts, resets                                 retried here (:mod:`shared.providers.retry`),
                                                      then ``ProviderUnavailable`` (``Throttled``
                                                      for a 503 with ``Retry-After``)
other (400, 409 ``duplicate``)                        ``ProviderError`` with the reason
====================================================  =============================================

Google asks for exponential backoff on 5xx and rate limits ("Handle API errors"); long waits
are not slept here but raised as ``Throttled`` so the queue re-schedules the work.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Callable
from typing import Any

from shared.errors import (
    CursorExpired,
    PreconditionFailed,
    ProviderDenied,
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
    Throttled,
)
from shared.providers.retry import RetryableError, RetryPolicy, parse_retry_after

PROVIDER = "google"
# Google rarely sends Retry-After on rate limits; its guides start backoff around a second and
# the per-user quota window is a minute, so ask the queue for a few seconds.
DEFAULT_THROTTLE_SECONDS = 5.0
MAX_THROTTLE_SECONDS = 900.0
# In-call retries stay short (sub-second to a second): the invocation must not stall.
DEFAULT_RETRY_POLICY = RetryPolicy(attempts=3, base=0.2, cap=1.0)

_RATE_LIMIT_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
)
_CURSOR_REASONS = frozenset({"fullSyncRequired", "updatedMinTooLongAgo"})
_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


def error_reason(exc: Any) -> str:
    """``errors[0].reason`` of a ``googleapiclient.errors.HttpError`` ("" when absent)."""
    try:
        data = json.loads(exc.content.decode("utf-8"))
        error = data["error"]
        items = error.get("errors") or []
        if items and items[0].get("reason"):
            return str(items[0]["reason"])
        return str(error.get("status", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def _retry_after_header(exc: Any) -> str | None:
    value = exc.resp.get("retry-after")
    return str(value) if value is not None else None


def translate(exc: Any) -> ProviderError:
    """The :mod:`shared.errors` exception for an ``HttpError`` (see the module table)."""
    status = int(exc.resp.status)
    reason = error_reason(exc)
    detail = f"Google answered {status} {reason or exc.reason}".strip()
    if status == 429 or (status == 403 and reason in _RATE_LIMIT_REASONS):
        retry_after = parse_retry_after(
            _retry_after_header(exc), DEFAULT_THROTTLE_SECONDS, MAX_THROTTLE_SECONDS
        )
        return Throttled(
            detail, provider=PROVIDER, retry_after=retry_after, provider_code=reason or None
        )
    if status in (401, 403):
        return ProviderDenied(detail, provider=PROVIDER, provider_code=reason or None)
    if status == 404 or (status == 410 and reason == "deleted"):
        return ProviderNotFound(detail, provider=PROVIDER, provider_code=reason or None)
    if status == 410:
        # An unexpected 410 on a list can only mean the token is gone: resync is the safe answer.
        return CursorExpired(detail, provider=PROVIDER, provider_code=reason or "fullSyncRequired")
    if status == 412:
        return PreconditionFailed(detail, provider=PROVIDER, provider_code=reason or None)
    if status == 503 and _retry_after_header(exc) is not None:
        retry_after = parse_retry_after(
            _retry_after_header(exc), DEFAULT_THROTTLE_SECONDS, MAX_THROTTLE_SECONDS
        )
        return Throttled(
            detail, provider=PROVIDER, retry_after=retry_after, provider_code=reason or None
        )
    if status >= 500:
        return ProviderUnavailable(detail, provider=PROVIDER, provider_code=reason or None)
    return ProviderError(detail, provider=PROVIDER, provider_code=reason or None)


def _transport_errors() -> tuple[type[BaseException], ...]:
    import httplib2

    # Timeouts and resets are OSError subclasses (TimeoutError, ConnectionResetError);
    # http.client raises RemoteDisconnected/BadStatusLine on a dropped connection.
    return (OSError, http.client.HTTPException, httplib2.HttpLib2Error)


def execute(
    request: Any,
    *,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """``request.execute()`` with short retries of transient failures; errors translated.

    Retried: 500/502/503/504 (a 503 ``Retry-After`` up to ``policy.cap`` is honoured as the
    delay, a longer one raises ``Throttled`` at once) and dropped connections; a timeout is
    ``ProviderUnavailable`` at once (the socket timeout was already spent).
    Everything else is translated at once. googleapiclient's own retry loop is off
    (``num_retries=0``) so that backoff lives in one place.
    """
    from googleapiclient.errors import HttpError

    transport_errors = _transport_errors()

    def attempt() -> Any:
        try:
            return request.execute(num_retries=0)
        except HttpError as exc:
            error = translate(exc)
            if int(exc.resp.status) not in _TRANSIENT_STATUSES:
                raise error from exc
            header = _retry_after_header(exc)
            if header is None:
                raise RetryableError(error) from exc
            delay = parse_retry_after(header, policy.cap, MAX_THROTTLE_SECONDS)
            if delay > policy.cap:
                raise error from exc
            raise RetryableError(error, delay=delay) from exc
        except ssl.SSLCertVerificationError as exc:
            # A trust problem is configuration, not a transient fault.
            raise ProviderUnavailable(
                f"TLS verification of Google failed: {exc}", provider=PROVIDER
            ) from exc
        except transport_errors as exc:
            unavailable = ProviderUnavailable(
                f"Google could not be reached: {type(exc).__name__}: {exc}",
                provider=PROVIDER,
                provider_code=type(exc).__name__,
            )
            if isinstance(exc, TimeoutError):
                # The whole socket timeout was spent waiting: Google is hung for us, and a
                # retry would only multiply the caller's wait.
                raise unavailable from exc
            raise RetryableError(unavailable) from exc

    return policy.run(attempt, sleep=sleep)
