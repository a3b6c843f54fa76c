"""Control API for tests and demos, under ``/_sim/graph`` (no token needed).

``user`` below is an id, UPN or mail of any tenant's user or room.

=========================================================  =========================================
``GET    /_sim/graph/mailboxes/{user}/events``              every live event of the mailbox (UTC)
``POST   /_sim/graph/mailboxes/{user}/events``              the person creates an event in Outlook
``PATCH  /_sim/graph/mailboxes/{user}/events/{id}``         ... updates or moves it
``DELETE /_sim/graph/mailboxes/{user}/events/{id}``         ... deletes it (cancels a meeting)
``POST   /_sim/graph/mailboxes/{user}/events/{id}/respond`` ``{"response": "declined"}`` as attendee
``POST   /_sim/graph/mailboxes/{user}/invalidate-delta``    next use of its delta tokens gives 410
``GET    /_sim/graph/subscriptions``                        all subscriptions (``expired`` flag)
``POST   /_sim/graph/subscriptions/{id}/lifecycle``         ``{"event": "reauthorizationRequired"
                                                            | "subscriptionRemoved" | "missed"}``
``GET    /_sim/graph/deliveries[?subscriptionId=&kind=]``   the notification delivery log
``GET|PUT /_sim/graph/settings``                            :class:`~.state.Settings` fields
``PUT    /_sim/graph/rooms/{user}/policy``                  ``{"policy": "accept" |
                                                            "decline_when_busy" | "never_answer"}``
=========================================================  =========================================
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.microsoft.directory import MsUser, directory
from simulator.microsoft.graph import delta, dispatch, operations
from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.events import render
from simulator.microsoft.graph.http import endpoint, json_body, ok
from simulator.microsoft.graph.state import Settings, graph_state
from simulator.microsoft.graph.subscriptions import subscription_json
from simulator.world import World

PREFIX = "/_sim/graph"
LIFECYCLE_EVENTS = {"reauthorizationRequired", "subscriptionRemoved", "missed"}
POLICIES = {"accept", "decline_when_busy", "never_answer"}


def _person(world: World, request: Request) -> MsUser:
    key = request.path_params["user"]
    with world.lock:
        user = directory(world).find_user_anywhere(key)
    if user is None:
        raise GraphError(404, "NotFound", f"No user or room '{key}' in any tenant.")
    return user


async def list_events(world: World, request: Request) -> Response:
    user = _person(world, request)
    with world.lock:
        value = [
            {**render(e), "mailboxId": user.id}
            for e in sorted(graph_state(world).mailbox(user.id).live(), key=lambda e: e.start)  # type: ignore[arg-type, return-value]
        ]
    return ok({"value": value})


async def create_event(world: World, request: Request) -> Response:
    user = _person(world, request)
    ev, _ = operations.create(world, user, await json_body(request))
    with world.lock:
        return ok(render(ev), status=201)


async def update_event(world: World, request: Request) -> Response:
    user = _person(world, request)
    ev = operations.update(world, user, request.path_params["event_id"], await json_body(request))
    with world.lock:
        return ok(render(ev))


async def delete_event(world: World, request: Request) -> Response:
    operations.delete(world, _person(world, request), request.path_params["event_id"])
    return Response(status_code=204)


async def respond(world: World, request: Request) -> Response:
    body = await json_body(request)
    response = str(body.get("response", ""))
    if response not in ("accepted", "tentativelyAccepted", "declined"):
        raise GraphError(
            400, "BadRequest", "response must be accepted, tentativelyAccepted or declined"
        )
    operations.respond(world, _person(world, request), request.path_params["event_id"], response)
    return Response(status_code=204)


async def invalidate_delta(world: World, request: Request) -> Response:
    return ok({"invalidated": delta.invalidate(world, _person(world, request).id)})


async def list_subscriptions(world: World, request: Request) -> Response:
    with world.lock:
        now = world.now()
        value = [
            {
                **subscription_json(world, s),
                "mailboxId": s.mailbox_id,
                "tenantId": s.tenant_id,
                "expired": s.expiration <= now,
            }
            for s in graph_state(world).subscriptions.values()
        ]
    return ok({"value": value})


async def lifecycle(world: World, request: Request) -> Response:
    body = await json_body(request)
    event = str(body.get("event", ""))
    if event not in LIFECYCLE_EVENTS:
        raise GraphError(400, "BadRequest", f"event must be one of {sorted(LIFECYCLE_EVENTS)}")
    with world.lock:
        state = graph_state(world)
        sub = state.subscriptions.get(request.path_params["sub_id"])
        if sub is None:
            raise GraphError(404, "NotFound", "No such subscription.")
        if not sub.lifecycle_url:
            raise GraphError(409, "Conflict", "The subscription has no lifecycleNotificationUrl.")
        dispatch.enqueue(
            world, "lifecycle", sub, sub.lifecycle_url, dispatch.lifecycle_notification(sub, event)
        )
        if event == "subscriptionRemoved":
            del state.subscriptions[sub.id]
    return ok({"sent": event}, status=202)


async def deliveries(world: World, request: Request) -> Response:
    sub_id = request.query_params.get("subscriptionId")
    kind = request.query_params.get("kind")
    with world.lock:
        value = [
            d.as_json()
            for d in graph_state(world).deliveries
            if (sub_id is None or d.subscription_id == sub_id) and (kind is None or d.kind == kind)
        ]
    return ok({"value": value})


async def settings(world: World, request: Request) -> Response:
    state = graph_state(world)
    if request.method == "PUT":
        body = await json_body(request)
        names = {f.name for f in dataclasses.fields(Settings)}
        unknown = set(body) - names
        if unknown:
            raise GraphError(400, "BadRequest", f"unknown settings {sorted(unknown)}")
        with world.lock:
            for key, value in body.items():
                setattr(state.settings, key, value)
    with world.lock:
        return ok(dataclasses.asdict(state.settings))


async def room_policy(world: World, request: Request) -> Response:
    room = _person(world, request)
    policy = str((await json_body(request)).get("policy", ""))
    if room.kind != "room" or policy not in POLICIES:
        raise GraphError(400, "BadRequest", f"need a room and a policy in {sorted(POLICIES)}")
    with world.lock:
        room.room_policy = policy  # type: ignore[assignment]
    return ok({"id": room.id, "policy": policy})


def routes(world: World) -> list[BaseRoute]:
    box = f"{PREFIX}/mailboxes/{{user}}"
    return [
        Route(f"{box}/events", endpoint(world, list_events), methods=["GET"]),
        Route(f"{box}/events", endpoint(world, create_event), methods=["POST"]),
        Route(f"{box}/events/{{event_id}}", endpoint(world, update_event), methods=["PATCH"]),
        Route(f"{box}/events/{{event_id}}", endpoint(world, delete_event), methods=["DELETE"]),
        Route(f"{box}/events/{{event_id}}/respond", endpoint(world, respond), methods=["POST"]),
        Route(f"{box}/invalidate-delta", endpoint(world, invalidate_delta), methods=["POST"]),
        Route(f"{PREFIX}/subscriptions", endpoint(world, list_subscriptions), methods=["GET"]),
        Route(
            f"{PREFIX}/subscriptions/{{sub_id}}/lifecycle",
            endpoint(world, lifecycle),
            methods=["POST"],
        ),
        Route(f"{PREFIX}/deliveries", endpoint(world, deliveries), methods=["GET"]),
        Route(f"{PREFIX}/settings", endpoint(world, settings), methods=["GET", "PUT"]),
        Route(f"{PREFIX}/rooms/{{user}}/policy", endpoint(world, room_policy), methods=["PUT"]),
    ]
