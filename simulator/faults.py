"""Fault and load knobs in front of every simulated area, and request counters for benchmarks.

:func:`wrap` puts an ASGI middleware around the simulator's app. For each request outside
``/_sim`` it finds the *area* from the path (``graph``, ``google``, ``keyvault``, else
``identity``) and the *tenant* (a Microsoft tenant id or a Google domain: the bearer token's
``tid``/``hd`` claim, the tenant path segment of the identity platform, or the domain of an email
address in the path), picks the most specific :class:`FaultRule` (area+tenant, tenant, area,
global) and applies it:

* latency: ``latency_ms`` plus a uniform jitter up to ``jitter_ms``;
* ``throttle_probability``: 429 (or ``throttle_status``) with ``Retry-After``, in the area's own
  error format (Graph ``TooManyRequests``, Google ``rateLimitExceeded``, Key Vault ``Throttled``,
  identity ``temporarily_unavailable``);
* ``unavailable_probability``: 503 with ``Retry-After``;
* ``reset_probability``: the connection is closed with no response;
* ``timeout_probability``: the request is held ``timeout_seconds`` before it is served.

Outlook's limit of 4 concurrent requests per app per mailbox is always enforced on ``/graph``
(``mailbox_concurrency_limit``, 0 turns it off): the mailbox is the ``users/{id}`` path segment or
the token's ``oid`` for ``/me``; the 5th concurrent request gets 429 ``ApplicationThrottled``
("Application is over its MailboxConcurrency limit."), as documented in "Microsoft Graph
throttling limits" (Outlook service limits).

Random draws come from a generator seeded with the world seed, so a run with the same seed and
the same request order sees the same faults.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.microsoft.directory import directory
from simulator.world import World

AREAS = ("graph", "google", "keyvault", "identity")
_EMAIL_IN_PATH = re.compile(r"[^/@]+@([^/@?]+)")


@dataclass
class FaultRule:
    """Knobs for one area and/or tenant (``None`` = any)."""

    area: str | None = None
    tenant: str | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    throttle_probability: float = 0.0
    throttle_status: int = 429
    retry_after_seconds: int = 1
    unavailable_probability: float = 0.0
    reset_probability: float = 0.0
    timeout_probability: float = 0.0
    timeout_seconds: float = 30.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault knobs: {sorted(unknown)}")
        rule = cls(**data)
        if rule.area is not None and rule.area not in AREAS:
            raise ValueError(f"area must be one of {AREAS}")
        return rule

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultState:
    seed: int
    rules: list[FaultRule] = field(default_factory=list)
    mailbox_concurrency_limit: int = 4
    rng: random.Random = field(init=False)
    in_flight: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"faults:{self.seed}")

    def rule_for(self, area: str, tenants: set[str]) -> FaultRule | None:
        def rank(rule: FaultRule) -> int | None:
            if rule.area is not None and rule.area != area:
                return None
            if rule.tenant is not None and rule.tenant.lower() not in tenants:
                return None
            return (2 if rule.tenant is not None else 0) + (1 if rule.area is not None else 0)

        ranked = [(r, rule) for rule in self.rules if (r := rank(rule)) is not None]
        return max(ranked, key=lambda item: item[0])[1] if ranked else None

    def count(self, area: str, status: int | str) -> None:
        bucket = self.counts.setdefault(area, {})
        bucket[str(status)] = bucket.get(str(status), 0) + 1

    def stats(self) -> dict[str, Any]:
        areas = {
            area: {"total": sum(by_status.values()), "by_status": dict(by_status)}
            for area, by_status in self.counts.items()
        }
        return {"areas": areas, "total": sum(a["total"] for a in areas.values())}


def fault_state(world: World) -> FaultState:
    """The world's fault knobs and counters."""
    return world.area("faults", lambda: FaultState(seed=world.seed))


def area_of(path: str) -> str | None:
    """The area a path belongs to, or None for the control API."""
    first = path.lstrip("/").split("/", 1)[0]
    if first == "_sim":
        return None
    return first if first in ("graph", "google", "keyvault") else "identity"


def _claims(headers: dict[bytes, bytes]) -> dict[str, Any]:
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if not auth.lower().startswith("bearer "):
        return {}
    parts = auth[7:].strip().split(".")
    if len(parts) != 3:
        return {}
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, json.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _tenants(world: World, area: str, path: str, claims: dict[str, Any]) -> set[str]:
    found = {str(claims[k]).lower() for k in ("tid", "hd") if claims.get(k)}
    found |= {m.group(1).lower() for m in _EMAIL_IN_PATH.finditer(path)}
    if area == "identity":
        segment = path.lstrip("/").split("/", 1)[0].lower()
        found.add(segment)
    # A Microsoft tenant may be named by id or by any of its domains.
    for key in list(found):
        tenant = directory(world).tenant(key)
        if tenant is not None:
            found.add(tenant.id.lower())
            found |= {d.lower() for d in tenant.domains}
    return found


def _mailbox(path: str, claims: dict[str, Any]) -> str | None:
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        if part.lower() == "users" and i + 1 < len(parts):
            return parts[i + 1].lower()
        if part.lower() == "me":
            return str(claims.get("oid", "")).lower() or None
    return None


def _error_body(area: str, status: int, retry_after: int) -> dict[str, Any]:
    if area == "graph":
        code = "TooManyRequests" if status == 429 else "ServiceUnavailable"
        message = "Please retry again later." if status == 429 else "Service unavailable."
        return _graph_error(code, message)
    if area == "google":
        if status == 503:
            return _google_error(503, "global", "backendError", "Backend Error")
        return _google_error(status, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded")
    if area == "keyvault":
        return {
            "error": {
                "code": "Throttled" if status == 429 else "ServiceUnavailable",
                "message": "Request was not processed because too many requests were received. "
                f"Retry after {retry_after} seconds.",
            }
        }
    return {
        "error": "temporarily_unavailable",
        "error_description": "The server is temporarily too busy to handle the request.",
    }


def _graph_error(code: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())},
        }
    }


def _google_error(status: int, domain: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": status,
            "message": message,
        }
    }


async def _respond(send: Send, status: int, body: dict[str, Any], retry_after: int) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _reset_connection(send: Send) -> None:
    # uvicorn's ``send`` is a method of the request cycle, which holds the transport: aborting it
    # drops the TCP connection without a response, which is what a client sees on a reset.
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionResetError("simulated connection reset")
    transport.abort()
    await asyncio.sleep(0)


def wrap(app: ASGIApp, world: World) -> ASGIApp:
    """``app`` behind the fault knobs and request counters of ``world``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path: str = scope["path"]
        area = area_of(path)
        if area is None:
            await app(scope, receive, send)
            return
        state = fault_state(world)
        claims = _claims(dict(scope["headers"]))
        with world.lock:
            rule = state.rule_for(area, _tenants(world, area, path, claims))
            draws = [state.rng.random() for _ in range(5)]
        if rule is not None:
            if draws[1] < rule.reset_probability:
                with world.lock:
                    state.count(area, "reset")
                await _reset_connection(send)
                return
            if draws[2] < rule.throttle_probability:
                with world.lock:
                    state.count(area, rule.throttle_status)
                body = _error_body(area, rule.throttle_status, rule.retry_after_seconds)
                await _respond(send, rule.throttle_status, body, rule.retry_after_seconds)
                return
            if draws[3] < rule.unavailable_probability:
                with world.lock:
                    state.count(area, 503)
                body = _error_body(area, 503, rule.retry_after_seconds)
                await _respond(send, 503, body, rule.retry_after_seconds)
                return
        # The mailbox slot is held for the whole request, added latency included: latency stands
        # for the server's processing time.
        slot: tuple[str, str] | None = None
        if area == "graph" and state.mailbox_concurrency_limit > 0:
            mailbox = _mailbox(path, claims)
            app_id = str(claims.get("appid") or claims.get("azp") or "")
            if mailbox:
                with world.lock:
                    key = (app_id, mailbox)
                    over = state.in_flight[key] >= state.mailbox_concurrency_limit
                    if over:
                        state.count(area, 429)
                    else:
                        state.in_flight[key] += 1
                        slot = key
                if over:
                    body = _graph_error(
                        "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
                    )
                    retry = rule.retry_after_seconds if rule is not None else 1
                    await _respond(send, 429, body, retry)
                    return
        status: list[int] = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            if rule is not None:
                delay = rule.latency_ms + draws[0] * rule.jitter_ms
                if draws[4] < rule.timeout_probability:
                    delay += rule.timeout_seconds * 1000
                if delay > 0:
                    await asyncio.sleep(delay / 1000)
            await app(scope, receive, counting_send)
        finally:
            with world.lock:
                if slot is not None:
                    state.in_flight[slot] -= 1
                state.count(area, status[0] if status else "error")

    return middleware
