"""User routes: a signed-in user connects, checks and ends their own calendar connection."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.consent.browser_binding import set_cookie
from shared.consent.connections import ConnectionStatus
from shared.consent.oauth_state import new_browser_nonce
from shared.errors import NotFound
from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.http.flows import connect_flow
from shared.http.limits import MAX_URL

bp = ApiBlueprint("me")


class ConnectQuery(BaseModel):
    return_to: str = Field(
        max_length=MAX_URL, description="Allow-listed URL to come back to after connecting"
    )


class ConnectRedirect(BaseModel):
    redirect_to: str
    already_connected: bool


@bp.api(
    "orgs/{org}/me/calendar/connect",
    name="connect_calendar",
    auth="user",
    summary="Redirect to the provider's consent, or straight back when already connected. "
    "With Accept: application/json the target is returned instead of a 302. Either answer sets "
    "a short-lived HttpOnly cookie (path /api/oauth/) that the callback must bring back: the "
    "sign-in must finish in the browser that started it (a single-page app calls this with "
    "credentials from the same site as the service).",
    query=ConnectQuery,
    response=ConnectRedirect,
    status=302,
)
def connect_calendar(request: ApiRequest) -> Reply:
    query: ConnectQuery = request.query
    nonce = new_browser_nonce()
    start = connect_flow(request.services).start(
        request.route["org"], request.require_caller().subject, query.return_to, browser=nonce
    )
    if "application/json" in request.headers.get("accept", ""):
        reply = Reply(
            body=ConnectRedirect(redirect_to=start.url, already_connected=start.already_connected)
        )
    else:
        reply = Reply.redirect(start.url)
    if not start.already_connected:
        secure = request.services.settings.public_base_url.startswith("https://")
        reply.headers["Set-Cookie"] = set_cookie(nonce, secure=secure)
        reply.headers["Cache-Control"] = "no-store"
    return reply


class ConnectionView(BaseModel):
    status: ConnectionStatus
    integration_id: str
    provider: str
    account: str
    scopes: list[str]
    connected_at: datetime
    updated_at: datetime
    last_error: str | None = None


@bp.api(
    "orgs/{org}/me/calendar",
    name="get_my_calendar",
    auth="user",
    summary="The caller's calendar connection (404 when not connected)",
    response=ConnectionView,
)
def get_my_calendar(request: ApiRequest) -> ConnectionView:
    integration, connection = connect_flow(request.services).status(
        request.route["org"], request.require_caller().subject
    )
    if connection is None:
        raise NotFound("your calendar is not connected", code="not_connected")
    return ConnectionView(
        status=connection.status,
        integration_id=integration.id,
        provider=integration.provider.value,
        account=connection.account,
        scopes=sorted(connection.scopes),
        connected_at=connection.connected_at,
        updated_at=connection.updated_at,
        last_error=connection.last_error,
    )


@bp.api(
    "orgs/{org}/me/calendar",
    name="disconnect_my_calendar",
    methods=("DELETE",),
    auth="user",
    summary="Disconnect: revoke where the provider allows, erase the tokens and the connection",
    status=204,
)
def disconnect_my_calendar(request: ApiRequest) -> Reply:
    removed = connect_flow(request.services).disconnect(
        request.route["org"], request.require_caller().subject
    )
    if not removed:
        raise NotFound("your calendar is not connected", code="not_connected")
    return Reply(status=204)
