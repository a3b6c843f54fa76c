"""Provider-facing webhooks: Microsoft Graph change/lifecycle notifications, Google push.

Graph first proves the endpoint by POSTing ``?validationToken=...`` and expects the decoded token
back as ``text/plain`` with 200 within 10 seconds (Microsoft Graph, "Set up notifications for
changes in resource data"); every notification POST must be answered within 3 seconds, or Graph
counts the endpoint as slow and eventually drops it. These functions therefore only validate,
de-duplicate and enqueue (:mod:`shared.sync.webhooks`), then answer 202 (Graph) or 200 (Google,
which treats any 2xx as delivered and retries anything else).

Notifications are matched to the subscriptions and channels the service created (by id, with the
client state or channel token compared in constant time); anything else, including the test
flow's short-lived probe subscriptions, is acknowledged and ignored.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.http.flows import sync_context
from shared.observability import metrics
from shared.sync import webhooks

log = logging.getLogger(__name__)
bp = ApiBlueprint("webhooks")
# Past this (a hung storage, a slow secret store) the answer is 503 and the sender retries:
# Graph redelivers with backoff, Google retries any non-2xx.
WEBHOOK_DEADLINE = "webhook_deadline_seconds"


class Accepted(BaseModel):
    accepted: int


def _validation(request: ApiRequest) -> Reply | None:
    token = request.params.get("validationToken")
    if token is None:
        return None
    # Graph sends the token URL-encoded; the host decoded it into params already.
    return Reply(status=200, body=token, content_type="text/plain; charset=utf-8")


@bp.api(
    "webhooks/microsoft",
    name="webhook_microsoft",
    methods=("POST",),
    auth="anonymous",
    deadline=WEBHOOK_DEADLINE,
    summary="Microsoft Graph change notifications (and the validationToken handshake)",
    response=Accepted,
    status=202,
)
@metrics.acknowledgement("microsoft")
def webhook_microsoft(request: ApiRequest) -> Reply:
    validation = _validation(request)
    if validation is not None:
        return validation
    result = webhooks.graph_notifications(sync_context(request.services), request.raw_body)
    log.info(
        "graph notifications: %d accepted, %d ignored, %d syncs enqueued",
        result.accepted,
        result.ignored,
        result.enqueued,
    )
    return Reply(status=202, body=Accepted(accepted=result.accepted))


@bp.api(
    "webhooks/microsoft/lifecycle",
    name="webhook_microsoft_lifecycle",
    methods=("POST",),
    auth="anonymous",
    deadline=WEBHOOK_DEADLINE,
    summary="Microsoft Graph lifecycle notifications (and the validationToken handshake)",
    response=Accepted,
    status=202,
)
@metrics.acknowledgement("microsoft")
def webhook_microsoft_lifecycle(request: ApiRequest) -> Reply:
    validation = _validation(request)
    if validation is not None:
        return validation
    result = webhooks.graph_lifecycle(sync_context(request.services), request.raw_body)
    log.info(
        "graph lifecycle notifications: %d accepted, %d ignored", result.accepted, result.ignored
    )
    return Reply(status=202, body=Accepted(accepted=result.accepted))


@bp.api(
    "webhooks/google",
    name="webhook_google",
    methods=("POST",),
    auth="anonymous",
    deadline=WEBHOOK_DEADLINE,
    summary="Google Calendar push notifications (X-Goog-* headers)",
    response=Accepted,
    status=200,
)
@metrics.acknowledgement("google")
def webhook_google(request: ApiRequest) -> Reply:
    result = webhooks.google_push(sync_context(request.services), request.headers)
    # Google treats any 2xx as delivered (200, 201, 202, 204, 102) and retries anything else.
    return Reply(status=200, body=Accepted(accepted=result.accepted))
