"""Google API error bodies, as documented on the Calendar API "Handle API errors" page.

https://developers.google.com/workspace/calendar/api/guides/errors shows every error as::

    {"error": {"errors": [{"domain": ..., "reason": ..., "message": ...}],
               "code": <status>, "message": <message>}}

The fault layer (:mod:`simulator.faults`) uses :func:`rate_limit_exceeded` to throttle Google
requests with the same bodies the real API sends.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


def error_body(
    code: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    location: str | None = None,
    location_type: str | None = None,
    top_message: str | None = None,
) -> dict[str, Any]:
    """A Google JSON error body (``error.errors[0].reason`` is what clients branch on)."""
    item: dict[str, Any] = {"domain": domain, "reason": reason, "message": message}
    if location is not None:
        item["locationType"] = location_type or "parameter"
        item["location"] = location
    return {"error": {"errors": [item], "code": code, "message": top_message or message}}


def error_response(code: int, reason: str, message: str, **kwargs: Any) -> JSONResponse:
    """:func:`error_body` as a response with the matching HTTP status."""
    return JSONResponse(error_body(code, reason, message, **kwargs), status_code=code)


def rate_limit_exceeded(status: int = 403) -> dict[str, Any]:
    """The body of a per-user/per-calendar rate limit: 403 or 429 ``rateLimitExceeded``.

    Google documents both statuses for the same reason ("403: Rate limit exceeded" and
    "429: Too many requests" on the errors page); clients should back off on either.
    """
    return error_body(status, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits")


def full_sync_required() -> dict[str, Any]:
    """410 Gone for a sync token the server no longer honours (sync guide, errors page)."""
    return error_body(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        location="syncToken",
    )


def not_found() -> JSONResponse:
    return error_response(404, "notFound", "Not Found")


def deleted() -> JSONResponse:
    return error_response(410, "deleted", "Resource has been deleted")


def invalid_credentials() -> JSONResponse:
    response = error_response(
        401,
        "authError",
        "Invalid Credentials",
        location="Authorization",
        location_type="header",
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return response


def insufficient_permissions() -> JSONResponse:
    return error_response(
        403,
        "insufficientPermissions",
        "Insufficient Permission",
        top_message="Request had insufficient authentication scopes.",
    )


def forbidden(message: str = "Forbidden") -> JSONResponse:
    return error_response(403, "forbidden", message)


def bad_request(message: str, location: str | None = None, reason: str = "invalid") -> JSONResponse:
    return error_response(400, reason, message, location=location)
