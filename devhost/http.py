"""The HTTP side of the local host: HTTP triggers and the admin invocation API, as a Starlette app.

Requests become ``func.HttpRequest`` objects and ``func.HttpResponse`` objects become responses the
way the Python worker converts them (``azure/functions/http.py``: a missing ``Content-Type`` comes
from ``mimetype``, plus ``charset`` for ``text/*``).

Authorization levels are not enforced: like Core Tools without ``--enableAuth``, the local host
serves FUNCTION and ADMIN functions without a key (and ignores ``code``/``x-functions-key``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from devhost.functions import FunctionEntry
from devhost.routing import RouteTemplate

logger = logging.getLogger("devhost")

Runner = Callable[[FunctionEntry, Any, str], Awaitable[Any]]
AdminInvoker = Callable[[str, str | None], None]


class HttpFunction:
    """An HTTP-triggered function and the full template it is served at."""

    def __init__(self, entry: FunctionEntry, route_prefix: str) -> None:
        self.entry = entry
        route = entry.trigger.route or entry.name
        self.template = RouteTemplate(f"{route_prefix}/{route}" if route_prefix else route)
        methods = entry.trigger.methods
        self.methods = (
            None if not methods else {str(getattr(m, "value", m)).upper() for m in methods}
        )

    def allows(self, method: str) -> bool:
        return self.methods is None or method in self.methods


def _headers(request: Request) -> dict[str, str]:
    # ASP.NET Core presents a repeated header as one comma-joined value.
    joined: dict[str, str] = {}
    for name, value in request.headers.items():
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def to_response(result: Any) -> Response:
    """Map what the function returned to an HTTP response, as the worker does."""
    if isinstance(result, str):
        return Response(result.encode(), 200, media_type="text/plain; charset=utf-8")
    if result is None:
        # No response bound: answer with an empty body rather than guess a payload.
        return Response(b"", 204)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"HTTP function returned {type(result).__name__}, not HttpResponse")
    response = Response(result.get_body() or b"", int(result.status_code or 200))
    headers = result.headers
    names = {name.lower() for name, _ in headers.items()}
    if "content-type" not in names:
        mimetype = result.mimetype
        value = (
            f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
        )
        response.raw_headers.append((b"content-type", value.encode("latin-1")))
    for name, value in headers.items():
        if name.lower() == "content-length":
            continue  # recomputed from the body
        values = headers.get_all(name) if name.lower() == "set-cookie" else [value]
        for item in values:
            response.raw_headers.append((name.lower().encode("latin-1"), item.encode("latin-1")))
    return response


class FunctionDispatcher:
    """ASGI app that picks the HTTP function for a request and runs it."""

    def __init__(self, functions: list[HttpFunction], run: Runner) -> None:
        self.functions = sorted(functions, key=lambda f: f.template.sort_key())
        self.run = run

    def select(self, method: str, raw_path: str) -> tuple[HttpFunction, dict[str, str]] | int:
        """The function and route values for a request, or 404/405.

        As in ASP.NET Core endpoint routing, every template that matches the path is a candidate,
        candidates that do not accept the method are dropped, and the most specific remaining
        one wins; if the path matched but no method did, the answer is 405.
        """
        path_matched = False
        for function in self.functions:
            values = function.template.match(raw_path)
            if values is None:
                continue
            path_matched = True
            if function.allows(method):
                return function, values
        return 405 if path_matched else 404

    def allowed(self, raw_path: str) -> list[str]:
        """The methods some function accepts at ``raw_path`` (for a 405's ``Allow``)."""
        found: set[str] = set()
        for function in self.functions:
            if function.template.match(raw_path) is not None and function.methods is not None:
                found |= function.methods
        return sorted(found)

    def no_function(self, status: int, method: str, raw_path: str) -> Response:
        """404/405 as problem+json (RFC 9457). The Functions host in Azure answers these with an
        empty body; an app that wants problem+json there registers a catch-all route itself."""
        allowed = self.allowed(raw_path) if status == 405 else []
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": "Method not allowed" if status == 405 else "Not found",
            "status": status,
            "detail": f"{method} is not allowed here; allowed: {', '.join(allowed)}"
            if status == 405
            else "no function is served at this path",
        }
        headers = {"Allow": ", ".join(allowed)} if status == 405 else {}
        return Response(
            json.dumps(body), status, headers=headers, media_type="application/problem+json"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        raw_path = scope.get("raw_path", b"").decode("latin-1") or request.url.path
        chosen = self.select(request.method, raw_path.split("?", 1)[0])
        if isinstance(chosen, int):
            path = raw_path.split("?", 1)[0]
            await self.no_function(chosen, request.method, path)(scope, receive, send)
            return
        function, route_values = chosen
        trigger_value = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=_headers(request),
            params=dict(request.query_params),
            route_params=route_values,
            body=await request.body(),
        )
        try:
            result = await self.run(function.entry, trigger_value, f"HTTP {request.method}")
        except Exception:
            # The real host answers 500 with an empty body; the invoker logged the details.
            response = Response(b"", 500)
        else:
            try:
                response = to_response(result)
            except Exception:
                logger.exception(
                    "HTTP function %s returned an unusable response", function.entry.name
                )
                response = Response(b"", 500)
        await response(scope, receive, send)


def build_app(functions: list[HttpFunction], run: Runner, admin_invoke: AdminInvoker) -> Starlette:
    """The Starlette app: admin API first, then every HTTP function."""

    async def invoke_function(request: Request) -> Response:
        # POST /admin/functions/{name} {"input": "..."} -> 202, like the host's admin API
        # (https://learn.microsoft.com/azure/azure-functions/functions-manually-run-non-http).
        name = request.path_params["name"]
        raw = await request.body()
        try:
            document = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return JSONResponse({"error": 'body must be JSON like {"input": "..."}'}, 400)
        if not isinstance(document, dict):
            return JSONResponse({"error": "body must be a JSON object"}, 400)
        value = document.get("input")
        try:
            admin_invoke(name, None if value is None else str(value))
        except KeyError:
            return JSONResponse({"error": f"no function named {name}"}, 404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return Response(b"", 202)

    async def host_status(request: Request) -> Response:
        return JSONResponse({"state": "Running"})

    dispatcher = FunctionDispatcher(functions, run)
    return Starlette(
        routes=[
            Route("/admin/functions/{name}", invoke_function, methods=["POST"]),
            Route("/admin/host/status", host_status, methods=["GET"]),
            Route("/{path:path}", dispatcher),
        ]
    )
