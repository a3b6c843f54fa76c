"""Calendar v3 routes under ``{base}/google/calendar/v3``: events and channels.

Access: a user reaches only their own calendar (``primary`` or their email); any other calendar
answers 404 ``notFound``, which is what Google answers for calendars the caller cannot see.
Scopes (from the access token): reads need one of calendar, calendar.readonly, calendar.events,
calendar.events.readonly; writes need calendar or calendar.events; otherwise 403
``insufficientPermissions``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.google import channels, errors, listing, store
from simulator.google.auth import Principal, authenticate
from simulator.google.state import (
    CALENDAR_EVENTS_READONLY_SCOPE,
    CALENDAR_EVENTS_SCOPE,
    CALENDAR_READONLY_SCOPE,
    CALENDAR_SCOPE,
)
from simulator.world import World

PREFIX = "/google/calendar/v3"
READ = (
    CALENDAR_SCOPE,
    CALENDAR_READONLY_SCOPE,
    CALENDAR_EVENTS_SCOPE,
    CALENDAR_EVENTS_READONLY_SCOPE,
)
WRITE = (CALENDAR_SCOPE, CALENDAR_EVENTS_SCOPE)


def _error(exc: store.EventError) -> JSONResponse:
    domain = "calendar" if exc.reason in ("fullSyncRequired", "timeRangeEmpty") else "global"
    location_type = "header" if exc.location == "If-Match" else None
    return errors.error_response(
        exc.code,
        exc.reason,
        exc.message,
        domain=domain,
        location=exc.location,
        location_type=location_type,
    )


def _resolve(
    world: World, request: Request, scopes: tuple[str, ...]
) -> tuple[Principal, str] | JSONResponse:
    principal = authenticate(world, request)
    if isinstance(principal, JSONResponse):
        return principal
    if not principal.has_any(*scopes):
        return errors.insufficient_permissions()
    calendar_id = request.path_params["calendar_id"]
    if calendar_id == "primary":
        calendar_id = principal.email
    if calendar_id.lower() != principal.email:
        return errors.not_found()
    return principal, calendar_id.lower()


async def _json(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return errors.error_response(400, "parseError", "Parse Error")
    if not isinstance(body, dict):
        return errors.error_response(400, "parseError", "Parse Error")
    return body


def routes(world: World) -> list[BaseRoute]:
    """Calendar v3 calendars.get, events (list, get, insert, patch, update, delete, watch)
    and channels.stop."""

    async def list_or_insert(request: Request) -> Response:
        write = request.method == "POST"
        resolved = _resolve(world, request, WRITE if write else READ)
        if isinstance(resolved, JSONResponse):
            return resolved
        _, calendar_id = resolved
        try:
            if not write:
                multi = {
                    k: request.query_params.getlist(k)
                    for k in ("privateExtendedProperty", "sharedExtendedProperty")
                }
                with world.lock:
                    return JSONResponse(
                        listing.list_events(world, calendar_id, request.query_params, multi)
                    )
            body = await _json(request)
            if isinstance(body, JSONResponse):
                return body
            with world.lock:
                return JSONResponse(store.insert_event(world, calendar_id, body))
        except store.EventError as exc:
            return _error(exc)

    async def one_event(request: Request) -> Response:
        write = request.method != "GET"
        resolved = _resolve(world, request, WRITE if write else READ)
        if isinstance(resolved, JSONResponse):
            return resolved
        _, calendar_id = resolved
        event_id = request.path_params["event_id"]
        try:
            if request.method == "GET":
                with world.lock:
                    cal, event = store.get_stored(world, calendar_id, event_id)
                    return JSONResponse(store.render(world, cal, event))
            if request.method == "DELETE":
                with world.lock:
                    store.delete_event(world, calendar_id, event_id)
                return Response(status_code=204)
            body = await _json(request)
            if isinstance(body, JSONResponse):
                return body
            with world.lock:
                return JSONResponse(
                    store.modify_event(
                        world,
                        calendar_id,
                        event_id,
                        body,
                        replace=request.method == "PUT",
                        if_match=request.headers.get("if-match"),
                    )
                )
        except store.EventError as exc:
            return _error(exc)

    async def watch(request: Request) -> Response:
        resolved = _resolve(world, request, READ)
        if isinstance(resolved, JSONResponse):
            return resolved
        principal, calendar_id = resolved
        body = await _json(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            with world.lock:
                return JSONResponse(
                    channels.open_channel(world, calendar_id, principal.email, body)
                )
        except store.EventError as exc:
            return _error(exc)

    async def stop(request: Request) -> Response:
        principal = authenticate(world, request)
        if isinstance(principal, JSONResponse):
            return principal
        body = await _json(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            with world.lock:
                channels.stop_channel(world, body)
        except store.EventError as exc:
            return _error(exc)
        return Response(status_code=204)

    async def one_calendar(request: Request) -> Response:
        # calendars.get: the Calendar resource, whose timeZone all-day dates are read in.
        resolved = _resolve(world, request, READ)
        if isinstance(resolved, JSONResponse):
            return resolved
        _, calendar_id = resolved
        with world.lock:
            cal = store.calendar(world, calendar_id)
            return JSONResponse(
                {
                    "kind": "calendar#calendar",
                    "etag": f'"{cal.epoch:06d}"',
                    "id": cal.id,
                    "summary": cal.id,
                    "timeZone": cal.time_zone,
                }
            )

    async def instances(request: Request) -> Response:
        resolved = _resolve(world, request, READ)
        if isinstance(resolved, JSONResponse):
            return resolved
        _, calendar_id = resolved
        try:
            with world.lock:
                return JSONResponse(
                    listing.list_instances(
                        world, calendar_id, request.path_params["event_id"], request.query_params
                    )
                )
        except store.EventError as exc:
            return _error(exc)

    events = PREFIX + "/calendars/{calendar_id}/events"
    return [
        Route(events + "/{event_id}/instances", instances, methods=["GET"]),
        Route(PREFIX + "/calendars/{calendar_id}", one_calendar, methods=["GET"]),
        Route(events, list_or_insert, methods=["GET", "POST"]),
        Route(events + "/watch", watch, methods=["POST"]),
        Route(events + "/{event_id}", one_event, methods=["GET", "PATCH", "PUT", "DELETE"]),
        Route(PREFIX + "/channels/stop", stop, methods=["POST"]),
    ]
