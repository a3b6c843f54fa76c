"""RFC 9457 problem details: every error response of the service.

Body members: ``type`` (a URN built from the stable ``code``), ``title``, ``status``, ``detail``,
``code`` (stable, callers branch on it), ``correlation_id`` (to find the log lines), and the error's
extension members (for example ``errors`` listing each invalid field).
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from shared.errors import ServiceError

PROBLEM_JSON = "application/problem+json"


def problem_body(
    *, status: int, code: str, title: str, detail: str, correlation_id: str, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:calendar-integration:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "correlation_id": correlation_id,
    }
    body.update(extra)
    return body


def problem_response(
    body: dict[str, Any], headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        body=json.dumps(body, default=str).encode(),
        status_code=int(body["status"]),
        headers={"Content-Type": PROBLEM_JSON, **(headers or {})},
    )


_RESERVED = frozenset({"type", "title", "status", "detail", "code", "correlation_id"})


def from_error(error: ServiceError, correlation_id: str) -> func.HttpResponse:
    body = problem_body(
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        correlation_id=correlation_id,
        **{k: v for k, v in error.extra.items() if k not in _RESERVED},
    )
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if error.status == 401 else None
    return problem_response(body, headers)


def internal_error(correlation_id: str) -> func.HttpResponse:
    """A 500 that says nothing about internals; the correlation id leads to the logs."""
    return problem_response(
        problem_body(
            status=500,
            code="internal_error",
            title="Internal error",
            detail="An unexpected error occurred. Quote the correlation id when reporting it.",
            correlation_id=correlation_id,
        )
    )
