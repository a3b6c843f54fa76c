"""The answer for a request no function of the API takes: problem+json 404 or 405.

One HTTP function with the catch-all route ``{*path}`` and every method. The Functions host (and
the local host) prefers any more specific template and drops the candidates that do not accept
the method (ASP.NET Core route precedence), so this function only sees requests under the route
prefix (``/api``) that no API function takes: a path no route matches is 404 ``route_not_found``;
a path that a route matches with other methods is 405 ``method_not_allowed`` with ``Allow``.
Paths outside the route prefix never reach the app; the host answers those itself.

Not part of the OpenAPI document: it is the absence of an operation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import azure.functions as func

from shared.http import problem
from shared.http.api import RouteSpec
from shared.observability.logs import new_correlation_id

FALLBACK_FUNCTION = "route_fallback"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_PARAM = re.compile(r"\{[^}]*\}")


def _pattern(route: str) -> re.Pattern[str]:
    parts = _PARAM.split(route.strip("/"))
    body = "[^/]+".join(re.escape(part) for part in parts)
    return re.compile(f"^/?{body}/?$", re.IGNORECASE)


def allowed_methods(specs: Iterable[RouteSpec], path: str) -> list[str]:
    """The methods the API's routes accept at ``path`` (relative to the route prefix)."""
    found = {m.upper() for spec in specs if _pattern(spec.route).match(path) for m in spec.methods}
    return sorted(found)


def blueprint(specs: Callable[[], Iterable[RouteSpec]]) -> func.Blueprint:
    """The catch-all function; ``specs`` gives the API's route specs when a request arrives."""
    bp = func.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)  # type: ignore[no-untyped-call]

    def route_fallback(req: func.HttpRequest) -> func.HttpResponse:
        path = req.route_params.get("path", "")
        allowed = allowed_methods(specs(), path)
        cid = new_correlation_id()
        if not allowed:
            body = problem.problem_body(
                status=404,
                code="route_not_found",
                title="Not found",
                detail="no operation of this API has this path; see /api/openapi.json",
                correlation_id=cid,
            )
            return problem.problem_response(body, {"X-Correlation-Id": cid})
        body = problem.problem_body(
            status=405,
            code="method_not_allowed",
            title="Method not allowed",
            detail=f"{req.method} is not an operation of this path; allowed: {', '.join(allowed)}",
            correlation_id=cid,
            allowed=allowed,
        )
        return problem.problem_response(
            body, {"Allow": ", ".join(allowed), "X-Correlation-Id": cid}
        )

    route_fallback.__annotations__ = {"req": func.HttpRequest, "return": func.HttpResponse}
    bp.function_name(FALLBACK_FUNCTION)(
        bp.route(route="{*path}", methods=_METHODS, auth_level=func.AuthLevel.ANONYMOUS)(
            route_fallback
        )
    )
    return bp
