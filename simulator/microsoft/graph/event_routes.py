"""Event endpoints: CRUD, responses, ``calendarView`` and ``calendarView/delta``.

Each path exists under ``/me``, ``/me/calendar``, ``/users/{id|upn}`` and
``/users/{id|upn}/calendar`` (the default calendar is the only calendar simulated).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.microsoft.directory import MsUser
from simulator.microsoft.graph import delta, operations, series
from simulator.microsoft.graph.auth import caller, mailbox_owner
from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.events import find, render
from simulator.microsoft.graph.http import BASE, endpoint, json_body, ok, page_size, root, throttle
from simulator.microsoft.graph.state import graph_state
from simulator.microsoft.graph.times import preferred_zone
from simulator.world import World

PREFIXES = ["/me", "/me/calendar", "/users/{user}", "/users/{user}/calendar"]
ACTIONS = {"accept": "accepted", "tentativelyAccept": "tentativelyAccepted", "decline": "declined"}


def _owner(world: World, request: Request, *, write: bool = False) -> MsUser:
    who = caller(world, request)
    with world.lock:
        owner = mailbox_owner(who, request.path_params.get("user", "me"), write=write)
    throttle(world, who, owner.id)
    return owner


def _tz(request: Request) -> str | None:
    return preferred_zone(request.headers.get("prefer"))


def _applied(request: Request) -> dict[str, str]:
    tz = _tz(request)
    return {"Preference-Applied": f'outlook.timezone="{tz}"'} if tz else {}


def _entity(world: World, owner: MsUser, body: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.context": f"{root(world)}/$metadata#users('{owner.id}')/events/$entity", **body}


async def list_events(world: World, request: Request) -> Response:
    owner = _owner(world, request)
    size, skip = page_size(request), int(request.query_params.get("$skip", "0") or 0)
    with world.lock:
        # /events lists single events and series masters; instances only through
        # calendarView or /instances.
        events = [
            e
            for e in graph_state(world).mailbox(owner.id).live()
            if e.kind in ("singleInstance", "seriesMaster")
        ]
        page = events[skip : skip + size]
        value = [render(e, _tz(request), request.query_params.get("$select")) for e in page]
        more = skip + size < len(events)
    body: dict[str, Any] = {
        "@odata.context": f"{root(world)}/$metadata#users('{owner.id}')/events",
        "value": value,
    }
    if more:
        query = dict(request.query_params) | {"$skip": str(skip + size)}
        body["@odata.nextLink"] = world.base_url + request.url.path + "?" + urlencode(query)
    return ok(body, headers=_applied(request))


async def create_event(world: World, request: Request) -> Response:
    owner = _owner(world, request, write=True)
    payload = await json_body(request)
    ev, _created = operations.create(world, owner, payload)
    with world.lock:
        body = _entity(world, owner, render(ev, _tz(request)))
    # A repeated transactionId returns the existing event; Graph answers it as a creation too.
    return ok(body, status=201, headers=_applied(request))


async def get_event(world: World, request: Request) -> Response:
    owner = _owner(world, request)
    with world.lock:
        ev = find(graph_state(world), owner.id, request.path_params["event_id"])
        body = _entity(world, owner, render(ev, _tz(request), request.query_params.get("$select")))
    return ok(body, headers=_applied(request))


async def patch_event(world: World, request: Request) -> Response:
    owner = _owner(world, request, write=True)
    patch = await json_body(request)
    ev = operations.update(
        world, owner, request.path_params["event_id"], patch, request.headers.get("if-match")
    )
    with world.lock:
        body = _entity(world, owner, render(ev, _tz(request)))
    return ok(body, headers=_applied(request))


async def delete_event(world: World, request: Request) -> Response:
    owner = _owner(world, request, write=True)
    operations.delete(world, owner, request.path_params["event_id"])
    return Response(status_code=204)


async def cancel_event(world: World, request: Request) -> Response:
    owner = _owner(world, request, write=True)
    await json_body(request)
    operations.cancel(world, owner, request.path_params["event_id"])
    return Response(status_code=202)


async def respond_event(world: World, request: Request) -> Response:
    owner = _owner(world, request, write=True)
    await json_body(request)
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{action}'.")
    operations.respond(world, owner, request.path_params["event_id"], ACTIONS[action])
    return Response(status_code=202)


async def calendar_view(world: World, request: Request) -> Response:
    owner = _owner(world, request)
    start, end = delta.window(request)
    size, skip = page_size(request), int(request.query_params.get("$skip", "0") or 0)
    with world.lock:
        events = delta.in_window(graph_state(world), owner.id, start, end)
        select = request.query_params.get("$select")
        value = [render(e, _tz(request), select) for e in events[skip : skip + size]]
    body: dict[str, Any] = {
        "@odata.context": f"{root(world)}/$metadata#users('{owner.id}')/calendarView",
        "value": value,
    }
    if skip + size < len(events):
        query = dict(request.query_params) | {"$skip": str(skip + size)}
        body["@odata.nextLink"] = world.base_url + request.url.path + "?" + urlencode(query)
    return ok(body, headers=_applied(request))


async def list_instances(world: World, request: Request) -> Response:
    """``GET /events/{id}/instances``: the occurrences and exceptions of a series master in
    ``startDateTime``..``endDateTime`` (https://learn.microsoft.com/graph/api/event-list-instances)."""
    owner = _owner(world, request)
    start, end = delta.window(request)
    with world.lock:
        state = graph_state(world)
        master = find(state, owner.id, request.path_params["event_id"])
        found = (
            series.instances(state.mailbox(owner.id), master, start, end)
            if master.kind == "seriesMaster"
            else []
        )
        select = request.query_params.get("$select")
        value = [render(e, _tz(request), select) for e in found]
    return ok(
        {"@odata.context": f"{root(world)}/$metadata#Collection(event)", "value": value},
        headers=_applied(request),
    )


async def calendar_view_delta(world: World, request: Request) -> Response:
    owner = _owner(world, request)
    size = page_size(request)
    body = delta.delta_page(world, owner.id, request, size)
    headers = _applied(request)
    if "odata.maxpagesize" in request.headers.get("prefer", ""):
        headers["Preference-Applied"] = ", ".join(
            p for p in (headers.get("Preference-Applied"), f"odata.maxpagesize={size}") if p
        )
    return ok(body, headers=headers)


def routes(world: World) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for prefix in PREFIXES:
        p = BASE + prefix
        out += [
            Route(f"{p}/events", endpoint(world, list_events), methods=["GET"]),
            Route(f"{p}/events", endpoint(world, create_event), methods=["POST"]),
            Route(f"{p}/events/{{event_id}}", endpoint(world, get_event), methods=["GET"]),
            Route(f"{p}/events/{{event_id}}", endpoint(world, patch_event), methods=["PATCH"]),
            Route(f"{p}/events/{{event_id}}", endpoint(world, delete_event), methods=["DELETE"]),
            Route(
                f"{p}/events/{{event_id}}/cancel", endpoint(world, cancel_event), methods=["POST"]
            ),
            Route(
                f"{p}/events/{{event_id}}/{{action}}",
                endpoint(world, respond_event),
                methods=["POST"],
            ),
            Route(
                f"{p}/events/{{event_id}}/instances",
                endpoint(world, list_instances),
                methods=["GET"],
            ),
            Route(f"{p}/calendarView", endpoint(world, calendar_view), methods=["GET"]),
            Route(f"{p}/calendarView/delta", endpoint(world, calendar_view_delta), methods=["GET"]),
        ]
    return out
