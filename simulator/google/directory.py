"""Admin SDK Directory API: calendar resources (rooms) of a Workspace customer.

``GET {base}/google/admin/directory/v1/customer/{customer}/resources/calendars`` with
``customer`` = ``my_customer`` or the customer id. Needs the scope
admin.directory.resource.calendar(.readonly) and a caller who is an administrator of the domain
(a super admin, or a service account impersonating one through domain-wide delegation); others
get 403 "Not Authorized to access this resource/api", as the Admin SDK answers.
``maxResults`` 1..500 (default 100), ``pageToken``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.google import errors
from simulator.google.auth import authenticate
from simulator.google.state import RESOURCE_READONLY_SCOPE, RESOURCE_SCOPE, google
from simulator.google.store import decode_token, encode_token
from simulator.world import World

NOT_AUTHORIZED = "Not Authorized to access this resource/api"


def routes(world: World) -> list[BaseRoute]:
    """resources.calendars.list."""

    async def list_rooms(request: Request) -> Response:
        principal = authenticate(world, request)
        if isinstance(principal, JSONResponse):
            return principal
        if not principal.has_any(RESOURCE_READONLY_SCOPE, RESOURCE_SCOPE):
            return errors.insufficient_permissions()
        state = google(world)
        with world.lock:
            user = state.find_user(principal.email)
            domain = state.domain_of(principal.email)
            customer = request.path_params["customer"]
            if user is None or domain is None or not user.is_admin:
                return errors.forbidden(NOT_AUTHORIZED)
            if customer not in ("my_customer", domain.customer_id):
                return errors.forbidden(NOT_AUTHORIZED)
            try:
                size = int(request.query_params.get("maxResults", "100"))
            except ValueError:
                size = 0
            if not 1 <= size <= 500:
                return errors.bad_request("Invalid value for maxResults", "maxResults")
            rooms = sorted(domain.rooms.values(), key=lambda r: r.resource_id)
            start = 0
            if "pageToken" in request.query_params:
                page = decode_token(request.query_params["pageToken"])
                if not page:
                    return errors.bad_request("Invalid page token", "pageToken")
                start = int(page["o"])
            chunk = rooms[start : start + size]
            body: dict[str, object] = {
                "kind": "admin#directory#resources#calendars#calendarResourcesList",
                "etag": f'"{domain.customer_id}-{len(rooms)}"',
                "items": [room.as_resource() for room in chunk],
            }
            if start + size < len(rooms):
                body["nextPageToken"] = encode_token({"o": start + size})
            return JSONResponse(body)

    return [
        Route(
            "/google/admin/directory/v1/customer/{customer}/resources/calendars",
            list_rooms,
            methods=["GET"],
        )
    ]
