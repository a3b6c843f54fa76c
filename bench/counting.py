"""Counting what the service asks of its backends, at the HTTP level, inside the bench process.

Table and Queue storage (Azurite) and Key Vault are reached with the Azure SDKs, which send over
``requests``; :func:`install` wraps ``requests.adapters.HTTPAdapter.send`` once so every request
is counted by service (told apart by Azurite's port) and, for Table storage, by kind (point read,
query, insert, update/upsert/merge, delete, batch). Secret reads are counted on the secret store
the benchmark's ``Services`` uses (:func:`count_secret_reads`). Nothing here changes behaviour:
it only counts, and only in the benchmark process.
"""

from __future__ import annotations

import collections
import threading
from typing import Any
from urllib.parse import urlsplit

import requests.adapters

_lock = threading.Lock()
_counts: collections.Counter[str] = collections.Counter()
_ports: dict[int, str] = {}
_installed = False


def table_kind(method: str, path: str) -> str:
    """What a Table storage request does, from its method and path."""
    point = "(PartitionKey=" in path
    if path.rstrip("/").endswith("$batch"):
        return "batch"
    if method == "GET":
        return "point_read" if point else "query"
    if method == "POST":
        return "insert"
    if method in ("PUT", "MERGE", "PATCH"):
        return "update"
    if method == "DELETE":
        return "delete"
    return method.lower()


def install(table_port: int, queue_port: int) -> None:
    """Count requests to these Azurite ports (and anything else, as ``other``)."""
    global _installed
    _ports[table_port] = "table"
    _ports[queue_port] = "queue"
    if _installed:
        return
    _installed = True
    original = requests.adapters.HTTPAdapter.send

    def send(self: requests.adapters.HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        url = urlsplit(request.url or "")
        service = _ports.get(url.port or 0, "other")
        method = request.headers.get("X-HTTP-Method") or request.method or ""
        key = f"table.{table_kind(method, url.path)}" if service == "table" else service
        with _lock:
            _counts[key] += 1
        return original(self, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]


def bump(key: str, by: int = 1) -> None:
    with _lock:
        _counts[key] += by


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)
    }


def table_total(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k.startswith("table."))


def count_secret_reads(store: Any) -> None:
    """Count ``get`` calls of one secret store object (the benchmark's own instance)."""
    original = store.get

    def get(name: str) -> Any:
        bump("secret_read")
        return original(name)

    store.get = get
