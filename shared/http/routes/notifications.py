"""Host-app routes: the ordered notification feed (reconnect needed, room declined, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.http.api import ApiBlueprint, ApiRequest
from shared.http.flows import consent_context

bp = ApiBlueprint("host-app")


class FeedQuery(BaseModel):
    after: str | None = Field(default=None, description="The id of the last notification seen")
    limit: int = Field(default=100, ge=1, le=500, description="At most this many (1-500)")


class NotificationView(BaseModel):
    id: str
    kind: str
    at: datetime
    data: dict[str, Any]


class Feed(BaseModel):
    items: list[NotificationView]
    next_after: str | None = Field(description="Pass as ?after= to continue; null when empty")


@bp.api(
    "orgs/{org}/notifications",
    name="list_notifications",
    auth="service",
    summary="Notifications for the host app, oldest first, after a given id",
    query=FeedQuery,
    response=Feed,
)
def list_notifications(request: ApiRequest) -> Feed:
    query: FeedQuery = request.query
    found = consent_context(request.services).outbox.after(
        request.route["org"], query.after, query.limit
    )
    items = [NotificationView(id=n.id, kind=n.kind, at=n.at, data=n.data) for n in found]
    return Feed(items=items, next_after=items[-1].id if items else query.after)
