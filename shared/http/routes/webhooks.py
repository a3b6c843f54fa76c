"""Provider-facing webhooks: Microsoft Graph change/lifecycle notifications, Google push.

Graph first proves the endpoint by POSTing ``?validationToken=...`` and expects the decoded token
back as ``text/plain`` with 200 within 10 seconds (Microsoft Graph, "Set up notifications for
changes in resource data"); every notification POST must be answered within 3 seconds, or Graph
counts the endpoint as slow and eventually drops it, so these functions only validate and hand
work on, then answer 202.

Notifications are matched to the subscriptions and channels the service created (by id, with the
client state or channel token compared in constant time); anything else is acknowledged and
ignored, including the test flow's short-lived probe subscriptions, which exist only to prove
that the provider can reach this URL.
"""

from __future__ import annotations

import json
import logging

from pydantic import BaseModel

from shared.http.api import ApiBlueprint, ApiRequest, Reply

log = logging.getLogger(__name__)
bp = ApiBlueprint("webhooks")


class Accepted(BaseModel):
    accepted: int


def _validation(request: ApiRequest) -> Reply | None:
    token = request.params.get("validationToken")
    if token is None:
        return None
    # Graph sends the token URL-encoded; the host decoded it into params already.
    return Reply(status=200, body=token, content_type="text/plain; charset=utf-8")


def _notifications(request: ApiRequest) -> int:
    try:
        body = json.loads(request.raw_body or b"{}")
    except ValueError:
        return 0
    items = body.get("value") if isinstance(body, dict) else None
    return len(items) if isinstance(items, list) else 0


@bp.api(
    "webhooks/microsoft",
    name="webhook_microsoft",
    methods=("POST",),
    auth="anonymous",
    summary="Microsoft Graph change notifications (and the validationToken handshake)",
    response=Accepted,
    status=202,
)
def webhook_microsoft(request: ApiRequest) -> Reply:
    validation = _validation(request)
    if validation is not None:
        return validation
    count = _notifications(request)
    log.info("graph notifications received: %d (none match a sync subscription)", count)
    return Reply(status=202, body=Accepted(accepted=0))


@bp.api(
    "webhooks/microsoft/lifecycle",
    name="webhook_microsoft_lifecycle",
    methods=("POST",),
    auth="anonymous",
    summary="Microsoft Graph lifecycle notifications (and the validationToken handshake)",
    response=Accepted,
    status=202,
)
def webhook_microsoft_lifecycle(request: ApiRequest) -> Reply:
    validation = _validation(request)
    if validation is not None:
        return validation
    log.info("graph lifecycle notifications received: %d", _notifications(request))
    return Reply(status=202, body=Accepted(accepted=0))


@bp.api(
    "webhooks/google",
    name="webhook_google",
    methods=("POST",),
    auth="anonymous",
    summary="Google Calendar push notifications (X-Goog-* headers)",
    response=Accepted,
    status=200,
)
def webhook_google(request: ApiRequest) -> Reply:
    state = request.headers.get("x-goog-resource-state", "")
    channel = request.headers.get("x-goog-channel-id", "")
    log.info("google push %s on channel %s (no sync channel matches)", state, channel)
    # Google treats any 2xx as delivered (200, 201, 202, 204, 102).
    return Reply(status=200, body=Accepted(accepted=0))
