"""Checks every response of the end-to-end suite against the OpenAPI document.

An ``httpx`` response hook on the suite's client matches each request to its operation and keeps
the status; at the end of the session every status a route answered must be declared in that
operation's OpenAPI entry. With ``OPENAPI_EXAMPLES_OUT=<file>`` it also writes the first request
and response body seen per operation and status, redacted, which is how
``shared/http/openapi_examples.json`` is made (``make openapi-examples``).
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from shared.http.openapi import build_openapi
from shared.http.routes import api_blueprints
from shared.http.routes.meta import VERSION
from shared.observability.redaction import redact


def _document() -> dict[str, Any]:
    specs = [spec for blueprint in api_blueprints() for spec in blueprint.specs]
    return build_openapi(specs, version=VERSION)


MAX_EXAMPLE_BYTES = 16 * 1024


_SECRET_KEY = re.compile(r"(secret|token|password)$", re.IGNORECASE)


def _scrub(value: Any) -> Any:
    """Secrets are shown by their shape only (signing_secret, client_secret, ...)."""
    if isinstance(value, dict):
        return {
            k: "[REDACTED]" if _SECRET_KEY.search(k) and isinstance(v, str) else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def _json(data: bytes, replacements: dict[str, str]) -> Any:
    """A body as an example: small JSON only (the suite also sends huge and deep bodies)."""
    if not data or len(data) > MAX_EXAMPLE_BYTES:
        return None
    try:
        text = redact(data.decode("utf-8"))
        for old, new in replacements.items():
            text = text.replace(old, new)
        return _scrub(json.loads(text))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


class OpenApiRecorder:
    """An ``httpx`` response hook recording (operation, status) and examples."""

    def __init__(self, replacements: dict[str, str] | None = None) -> None:
        """``replacements``: local addresses to show as public ones in examples."""
        self.replacements = dict(replacements or {})
        for old, new in list(self.replacements.items()):  # also inside encoded URLs
            self.replacements[quote(old, safe="")] = quote(new, safe="")
        self.document = _document()
        self._routes: list[tuple[str, re.Pattern[str], str, int]] = []
        for path, item in self.document["paths"].items():
            segments = ("[^/]+" if s.startswith("{") else re.escape(s) for s in path.split("/"))
            pattern = re.compile("^" + "/".join(segments) + "$")
            for method, operation in item.items():
                self._routes.append(
                    (method.upper(), pattern, operation["operationId"], path.count("{"))
                )
        # Literal segments win over parameters (rooms/directory before rooms/{room}).
        self._routes.sort(key=lambda route: route[3])
        self._lock = threading.Lock()
        self.seen: dict[str, set[int]] = defaultdict(set)
        self.examples: dict[str, dict[str, Any]] = {}

    def operation(self, method: str, path: str) -> str | None:
        for route_method, pattern, operation_id, _ in self._routes:
            if route_method == method and pattern.match(path):
                return operation_id
        return None

    def __call__(self, response: httpx.Response) -> None:
        request = response.request
        operation_id = self.operation(request.method, request.url.path)
        if operation_id is None:
            return
        response.read()
        with self._lock:
            self.seen[operation_id].add(response.status_code)
            entry = self.examples.setdefault(operation_id, {"responses": {}})
            body = _json(request.content, self.replacements) if request.content else None
            if body is not None and "request" not in entry and response.status_code < 300:
                entry["request"] = body
            status = str(response.status_code)
            if status not in entry["responses"]:
                parsed = _json(response.content, self.replacements)
                if parsed is not None:
                    entry["responses"][status] = parsed

    def undeclared(self) -> list[str]:
        """``operationId status`` for every answered status the document does not declare."""
        declared: dict[str, set[int]] = {}
        for item in self.document["paths"].values():
            for operation in item.values():
                declared[operation["operationId"]] = {int(s) for s in operation["responses"]}
        return sorted(
            f"{operation_id} {status}"
            for operation_id, statuses in self.seen.items()
            for status in statuses
            if status not in declared.get(operation_id, set())
        )

    def write_examples(self, path: Path) -> None:
        """Merge the examples seen into ``path``; entries already there are kept."""
        existing: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        for operation_id, entry in self.examples.items():
            kept = existing.setdefault(operation_id, {"responses": {}})
            if "request" in entry and "request" not in kept:
                kept["request"] = entry["request"]
            for status, body in entry["responses"].items():
                kept["responses"].setdefault(status, body)
        path.write_text(json.dumps(dict(sorted(existing.items())), indent=1, sort_keys=True) + "\n")
