"""Service-level routes: health and the OpenAPI document."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel

from shared.errors import ServiceError
from shared.http.api import ApiBlueprint, ApiRequest, Reply

log = logging.getLogger(__name__)
bp = ApiBlueprint("service")

VERSION = "0.1.0"


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
    summary="Whether Table storage, Queue storage and the secret store can be reached",
    response=Health,
)
def health(request: ApiRequest) -> Reply:
    services = request.services
    checks: dict[str, Check] = {}
    for name, ping in (
        ("tables", services.tables.ping),
        ("queues", services.queues.ping),
        ("secrets", services.secrets.ping),
    ):
        try:
            ping()
            checks[name] = Check(status="ok")
        except ServiceError as exc:
            # The code only: reachability errors can carry endpoints, never put more in the body.
            log.warning("health check %s failed: %s", name, exc.detail)
            checks[name] = Check(status="failing", error=exc.code)
    healthy = all(c.status == "ok" for c in checks.values())
    body = Health(status="ok" if healthy else "degraded", version=VERSION, checks=checks)
    return Reply(status=200 if healthy else 503, body=body)


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
