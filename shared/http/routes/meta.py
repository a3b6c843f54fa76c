"""Service-level routes: health and the OpenAPI document."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import Literal

from pydantic import BaseModel

from shared.deadlines import submit
from shared.errors import ServiceError
from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.services import Services

log = logging.getLogger(__name__)
bp = ApiBlueprint("service")

VERSION = "0.1.0"

# /health is anonymous: anyone can call it as often as they like. The storage and Key Vault
# probes behind it run at most once per this interval per instance; callers in between get the
# last answer (see docs/decisions.md, "Anonymous health is cached").
# Measured on the monotonic clock: this is about load, not about the service's business time
# (which tests and the local host move by hand).
HEALTH_CACHE_SECONDS = 15.0


class Check(BaseModel):
    status: Literal["ok", "failing"]
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, Check]


@bp.api(
    "health",
    name="health",
    auth="anonymous",
    summary=(
        "Whether Table storage, Queue storage and the secret store can be reached "
        "(probed at most every 15 s per instance; callers in between get the last answer)"
    ),
    response=Health,
)
def health(request: ApiRequest) -> Reply:
    services = request.services
    cache = services.built(HEALTH_CACHE_KEY, lambda _: HealthCache())
    body = cache.get(lambda: _probe(services))
    return Reply(status=200 if body.status == "ok" else 503, body=body)


HEALTH_CACHE_KEY = "health.cache"


class HealthCache:
    """The last health answer and when it was computed; one probe at a time per instance."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._at = 0.0
        self._body: Health | None = None

    def get(self, probe: Callable[[], Health]) -> Health:
        with self._lock:
            now = self._monotonic()
            if self._body is None or not 0 <= now - self._at < HEALTH_CACHE_SECONDS:
                self._body = probe()
                self._at = now
            return self._body


def _probe(services: Services) -> Health:
    # The probes run side by side, each on its own thread, and the answer waits for them at most
    # HEALTH_DEADLINE_SECONDS: a hung dependency is reported as failing with "timeout" instead
    # of holding the answer (and every caller behind it) for as long as it hangs.
    deadline = time.monotonic() + services.settings.health_deadline_seconds
    probes = {
        name: submit(partial(_ping, name, ping))
        for name, ping in (
            ("tables", lambda: services.tables.ping()),
            ("queues", lambda: services.queues.ping()),
            ("secrets", lambda: services.secrets.ping()),
        )
    }
    checks: dict[str, Check] = {}
    for name, future in probes.items():
        try:
            checks[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            log.warning("health check %s: no answer within the deadline", name)
            checks[name] = Check(status="failing", error="timeout")
    healthy = all(c.status == "ok" for c in checks.values())
    return Health(status="ok" if healthy else "degraded", version=VERSION, checks=checks)


def _ping(name: str, ping: Callable[[], None]) -> Check:
    try:
        ping()
    except ServiceError as exc:
        # The code only: reachability errors can carry endpoints, never put more in the body.
        log.warning("health check %s failed: %s", name, exc.detail)
        return Check(status="failing", error=exc.code)
    return Check(status="ok")


@bp.api(
    "openapi.json",
    name="openapi",
    auth="anonymous",
    summary="This service's OpenAPI 3.1 document",
)
def openapi(request: ApiRequest) -> Reply:
    from shared.http.openapi import build_openapi
    from shared.http.routes import api_blueprints

    specs = [spec for blueprint in api_blueprints() for spec in blueprint.specs]
    return Reply(body=build_openapi(specs, version=VERSION))
