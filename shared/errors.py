"""The service's exception tree, in one place.

Every error the core raises derives from :class:`ServiceError` and carries a stable ``code`` (part
of the HTTP contract: callers branch on it), an HTTP ``status`` the HTTP layer uses, and a short
human ``title``. Library errors (azure-core, msal, google-auth, httpx) are translated into these
once, at the adapter that called the library, with ``raise ... from exc``::

    ServiceError
    ├── ConfigurationError        a setting is missing or malformed (500, names the setting)
    ├── BadRequest                the caller sent something we cannot accept (400)
    │   ├── ValidationFailed      field-level errors from a pydantic model (400, lists fields)
    │   ├── PayloadTooLarge       the body is larger than MAX_REQUEST_BODY_BYTES (413)
    │   ├── UnsupportedMediaType  a body that is not declared as JSON (415)
    │   └── UnknownTimeZone       a time zone name neither IANA nor CLDR's Windows table knows
    ├── Unauthenticated           no or invalid bearer token (401)
    ├── Forbidden                 authenticated, but not allowed: wrong org or missing role (403)
    ├── NotFound                  the addressed resource does not exist (404)
    ├── Conflict                  the request conflicts with the current state (409)
    │   ├── AlreadyExists         an insert met an existing entity
    │   └── ConcurrencyConflict   an ETag did not match: someone else wrote first (412 upstream)
    ├── DeadlineExceeded          work did not finish within its deadline (503, retry later)
    ├── StorageUnavailable        Table/Queue storage could not be reached (503)
    ├── SecretStoreUnavailable    the secret store could not be reached (503)
    └── ProviderError             Microsoft Graph / Google / the identity platform failed (502)
        ├── Throttled             429 or 503 with Retry-After; ``retry_after`` seconds (503)
        ├── ProviderUnavailable   5xx, timeouts, resets after our own retries (503)
        ├── ProviderDenied        the provider refused: a permission or policy is missing (403)
        ├── ProviderNotFound      the provider says the item does not exist (404)
        ├── PreconditionFailed    an If-Match/ETag did not match at the provider (412 -> 409)
        ├── CursorExpired         a delta link or sync token is no longer valid: full resync
        ├── ReconnectNeeded       the refresh token is revoked or expired: the user must reconnect
        └── ConsentFailed         an OAuth redirect or code redemption came back with an error

Library errors that escape an adapter are mapped by :func:`from_library` where unexpected
exceptions are caught (the HTTP layer, the sync worker): an outage of a provider or of storage is
``ProviderUnavailable``/``StorageUnavailable`` whichever library raised it, never a 500.

Provider errors carry ``provider_code`` (the provider's own error code, e.g. ``ErrorAccessDenied``,
``rateLimitExceeded``, ``AADSTS50105``) and, for OAuth failures, the raw ``error_description``,
which the diagnostics catalogue turns into who must act and how.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""

    code: str = "internal_error"
    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code is not None:
            # A more specific stable code than the class's (e.g. ``wrong_org`` for Forbidden).
            self.code = code
        # Extra members end up in the problem+json body (RFC 9457 extension members).
        self.extra: dict[str, Any] = extra


class ConfigurationError(ServiceError):
    """A required setting is missing or malformed; ``setting`` names it."""

    code = "configuration_error"
    status = 500
    title = "Service misconfigured"

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"setting {setting}: {problem}", setting=setting)
        self.setting = setting


class BadRequest(ServiceError):
    code = "bad_request"
    status = 400
    title = "Bad request"


class ValidationFailed(BadRequest):
    """Input failed validation; ``errors`` lists ``{"field", "message"}`` for each bad field."""

    code = "validation_failed"
    title = "Request validation failed"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None) -> None:
        fields = ", ".join(e["field"] for e in errors) or "request"
        super().__init__(detail or f"invalid: {fields}", errors=errors)
        self.errors = errors


class UnknownTimeZone(BadRequest, ValueError):
    """A time zone name that neither the IANA database nor CLDR's Windows table knows.

    ``zone`` is the name as given. Also a ``ValueError``, so parsers that treat malformed
    provider values as such keep working; never silently read as UTC.
    """

    code = "unknown_time_zone"
    title = "Unknown time zone"

    def __init__(self, zone: str, *, detail: str | None = None) -> None:
        super().__init__(detail or f"unknown time zone {zone!r}", zone=zone)
        self.zone = zone


class PayloadTooLarge(BadRequest):
    """The request body exceeds the configured limit (``limit`` bytes)."""

    code = "payload_too_large"
    status = 413
    title = "Request body too large"


class UnsupportedMediaType(BadRequest):
    """A request body whose ``Content-Type`` is not JSON (every body this service reads is)."""

    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class Unauthenticated(ServiceError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"


class Forbidden(ServiceError):
    code = "forbidden"
    status = 403
    title = "Not allowed"


class NotFound(ServiceError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    code = "conflict"
    status = 409
    title = "Conflict"


class AlreadyExists(Conflict):
    code = "already_exists"
    title = "Already exists"


class ConcurrencyConflict(Conflict):
    """An optimistic-concurrency check failed: the entity changed since it was read."""

    code = "concurrency_conflict"
    title = "Changed by someone else"


class DeadlineExceeded(ServiceError):
    """Work bounded by a deadline (a webhook, a health probe) did not finish in time."""

    code = "deadline_exceeded"
    status = 503
    title = "Not finished in time"


class StorageUnavailable(ServiceError):
    code = "storage_unavailable"
    status = 503
    title = "Storage unavailable"


class SecretStoreUnavailable(ServiceError):
    code = "secret_store_unavailable"
    status = 503
    title = "Secret store unavailable"


class ProviderError(ServiceError):
    """A call to Microsoft or Google failed. ``provider`` is ``microsoft`` or ``google``."""

    code = "provider_error"
    status = 502
    title = "The calendar provider failed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        provider: str,
        provider_code: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, provider=provider, provider_code=provider_code, **extra)
        self.provider = provider
        self.provider_code = provider_code


class Throttled(ProviderError):
    """The provider asked us to slow down; retry after ``retry_after`` seconds."""

    code = "provider_throttled"
    status = 503
    title = "The calendar provider is throttling requests"

    def __init__(
        self, detail: str | None = None, *, provider: str, retry_after: float, **extra: Any
    ) -> None:
        super().__init__(detail, provider=provider, retry_after=retry_after, **extra)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    status = 503
    title = "The calendar provider is unavailable"


class ProviderDenied(ProviderError):
    code = "provider_denied"
    status = 403
    title = "The calendar provider refused the request"


class ProviderNotFound(ProviderError):
    code = "provider_not_found"
    status = 404
    title = "Not found at the calendar provider"


class PreconditionFailed(ProviderError):
    code = "provider_precondition_failed"
    status = 409
    title = "The item changed at the calendar provider"


class CursorExpired(ProviderError):
    """A Graph delta link or Google sync token is no longer valid; resync from scratch."""

    code = "sync_cursor_expired"
    status = 409
    title = "The sync cursor expired"


class ReconnectNeeded(ProviderError):
    """The connection's refresh token is revoked or expired; the user must connect again."""

    code = "reconnect_needed"
    status = 409
    title = "The calendar connection must be renewed"


class ConsentFailed(ProviderError):
    """An OAuth flow ended in an error (redirect ``error=`` or token endpoint error).

    ``error``, ``error_description``, ``error_codes`` and ``suberror`` are the provider's own
    values, kept for the diagnostics catalogue; they never contain tokens.
    """

    code = "consent_failed"
    status = 400
    title = "The sign-in or consent did not complete"

    def __init__(
        self,
        *,
        provider: str,
        error: str,
        error_description: str | None = None,
        error_codes: list[int] | None = None,
        suberror: str | None = None,
    ) -> None:
        super().__init__(
            error_description or error,
            provider=provider,
            provider_code=error,
            error_codes=error_codes or [],
        )
        self.error = error
        self.error_description = error_description
        self.error_codes = error_codes or []
        self.suberror = suberror


# --- library errors that escaped their adapter -------------------------------------------------
# Adapters translate what they expect; this is the one table for the service failures of the
# libraries we use, applied wherever an unexpected exception is caught (the HTTP layer, the sync
# worker), so a provider or storage outage is reported as one and never as an internal error.
# Classes are recognised by module and name: no library is imported here.
_UNAVAILABLE_BY_MODULE: tuple[tuple[str, str, str], ...] = (
    # (module prefix, class name, provider or "storage")
    ("msal", "MsalServiceError", "microsoft"),  # a 5xx from the token endpoint (msal raises)
    ("requests", "RequestException", "provider"),  # msal's and google-auth's HTTP
    ("google.auth", "TransportError", "google"),
    ("httplib2", "HttpLib2Error", "google"),  # googleapiclient's HTTP
    ("httpx", "TransportError", "provider"),  # Graph, webhook delivery
    ("azure.core", "ServiceRequestError", "storage"),
    ("azure.core", "ServiceResponseError", "storage"),
)


def _named(exc: BaseException, module: str, name: str) -> bool:
    return any(
        cls.__name__ == name
        and (cls.__module__ == module or cls.__module__.startswith(module + "."))
        for cls in type(exc).__mro__
    )


def _status_of(exc: BaseException) -> int:
    for holder in (exc, getattr(exc, "resp", None), getattr(exc, "response", None)):
        for attr in ("status_code", "status"):
            value = getattr(holder, attr, None)
            if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                return int(value)
    return 0


def from_library(exc: BaseException) -> ServiceError | None:
    """The service error for a library's outage-type failure, or ``None`` (a bug: let it be
    a 500 / a retried message).

    ================================================  =========================================
    msal ``MsalServiceError`` (token endpoint 5xx)      ``ProviderUnavailable`` (microsoft)
    requests ``RequestException``, httpx
    ``TransportError`` (timeouts, resets, refused)      ``ProviderUnavailable``
    google-auth ``TransportError``, ``RefreshError``
    marked retryable, httplib2 ``HttpLib2Error``         ``ProviderUnavailable`` (google)
    googleapiclient ``HttpError`` 5xx                  ``ProviderUnavailable`` (google)
    httpx ``HTTPStatusError`` 5xx                      ``ProviderUnavailable``
    azure-core ``ServiceRequestError``,
    ``ServiceResponseError``, ``HttpResponseError`` 5xx ``StorageUnavailable``
    ``TimeoutError``, ``ConnectionError`` (sockets)     ``ProviderUnavailable``
    ================================================  =========================================
    """
    if isinstance(exc, ServiceError):
        return exc
    what = f"{type(exc).__module__}.{type(exc).__name__}"
    status = _status_of(exc)
    if _named(exc, "requests", "HTTPError") and status < 500:
        return None  # a refusal raised by raise_for_status, not an outage
    for module, name, provider in _UNAVAILABLE_BY_MODULE:
        if _named(exc, module, name):
            if provider == "storage":
                return StorageUnavailable(f"storage call failed: {what}")
            return ProviderUnavailable(f"provider call failed: {what}", provider=provider)
    if _named(exc, "google.auth", "RefreshError") and getattr(exc, "retryable", False):
        return ProviderUnavailable(f"Google token endpoint failed: {what}", provider="google")
    if _named(exc, "googleapiclient", "HttpError") and status >= 500:
        return ProviderUnavailable(f"Google answered {status}", provider="google")
    if _named(exc, "httpx", "HTTPStatusError") and status >= 500:
        return ProviderUnavailable(f"provider answered {status}", provider="provider")
    if _named(exc, "azure.core", "HttpResponseError") and (status >= 500 or status == 0):
        return StorageUnavailable(f"storage answered {status or 'no status'}: {what}")
    if isinstance(exc, TimeoutError | ConnectionError):
        return ProviderUnavailable(f"a connection failed: {what}", provider="provider")
    return None
