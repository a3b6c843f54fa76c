"""The service's exception tree, in one place.

Every error the core raises derives from :class:`ServiceError` and carries a stable ``code`` (part
of the HTTP contract: callers branch on it), an HTTP ``status`` the HTTP layer uses, and a short
human ``title``. Library errors (azure-core, msal, google-auth, httpx) are translated into these
once, at the adapter that called the library, with ``raise ... from exc``::

    ServiceError
    ├── ConfigurationError        a setting is missing or malformed (500, names the setting)
    ├── BadRequest                the caller sent something we cannot accept (400)
    │   └── ValidationFailed      field-level errors from a pydantic model (400, lists fields)
    ├── Unauthenticated           no or invalid bearer token (401)
    ├── Forbidden                 authenticated, but not allowed: wrong org or missing role (403)
    ├── NotFound                  the addressed resource does not exist (404)
    ├── Conflict                  the request conflicts with the current state (409)
    │   ├── AlreadyExists         an insert met an existing entity
    │   └── ConcurrencyConflict   an ETag did not match: someone else wrote first (412 upstream)
    ├── StorageUnavailable        Table/Queue storage could not be reached (503)
    └── SecretStoreUnavailable    the secret store could not be reached (503)
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""

    code: str = "internal_error"
    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
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

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if code is not None:
            self.code = code


class ValidationFailed(BadRequest):
    """Input failed validation; ``errors`` lists ``{"field", "message"}`` for each bad field."""

    code = "validation_failed"
    title = "Request validation failed"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None) -> None:
        fields = ", ".join(e["field"] for e in errors) or "request"
        super().__init__(detail or f"invalid: {fields}", errors=errors)
        self.errors = errors


class Unauthenticated(ServiceError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if code is not None:
            self.code = code


class Forbidden(ServiceError):
    code = "forbidden"
    status = 403
    title = "Not allowed"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if code is not None:
            self.code = code


class NotFound(ServiceError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    code = "conflict"
    status = 409
    title = "Conflict"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if code is not None:
            self.code = code


class AlreadyExists(Conflict):
    code = "already_exists"
    title = "Already exists"


class ConcurrencyConflict(Conflict):
    """An optimistic-concurrency check failed: the entity changed since it was read."""

    code = "concurrency_conflict"
    title = "Changed by someone else"


class StorageUnavailable(ServiceError):
    code = "storage_unavailable"
    status = 503
    title = "Storage unavailable"


class SecretStoreUnavailable(ServiceError):
    code = "secret_store_unavailable"
    status = 503
    title = "Secret store unavailable"
