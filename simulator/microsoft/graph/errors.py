"""Graph's error format and the exception handlers raise to produce it.

Every Graph error body has the shape documented at https://learn.microsoft.com/graph/errors::

    {"error": {"code": "...", "message": "...",
               "innerError": {"date": "...", "request-id": "...", "client-request-id": "..."}}}
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

ACCESS_DENIED = "Access is denied. Check credentials and try again."


class GraphError(Exception):
    """An error answer: HTTP ``status``, Graph ``code`` and ``message``, extra ``headers``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        inner: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.inner = inner or {}  # extra innerError members (a throttled answer has some)


def access_denied() -> GraphError:
    return GraphError(403, "ErrorAccessDenied", ACCESS_DENIED)


def item_not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def request_ids(request: Request) -> tuple[str, str]:
    """Graph echoes ``client-request-id`` when the caller sent one; otherwise both are new."""
    request_id = str(uuid.uuid4())
    return request_id, request.headers.get("client-request-id", request_id)


def error_body(
    code: str,
    message: str,
    request_id: str,
    client_request_id: str,
    inner: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
                **(inner or {}),
            },
        }
    }


def error_response(request: Request, exc: GraphError) -> JSONResponse:
    request_id, client_request_id = request_ids(request)
    headers = {"request-id": request_id, "client-request-id": client_request_id, **exc.headers}
    return JSONResponse(
        error_body(exc.code, exc.message, request_id, client_request_id, exc.inner),
        status_code=exc.status,
        headers=headers,
    )
