"""The simulator's control API, mounted at ``/_sim`` (JSON in and out; never faulted).

Generic endpoints::

    POST   /_sim/reset                 forget all state (tenants, tokens, faults, counters)
    GET    /_sim/clock                 {"now": iso, "offset_seconds": n}
    POST   /_sim/clock                 {"advance_seconds": n} moves the simulated clock forward
    GET    /_sim/faults                {"rules": [...], "mailbox_concurrency_limit": 4}
    PUT    /_sim/faults                replace rules (and optionally the mailbox limit)
    POST   /_sim/faults/rules          add one rule (see simulator.faults.FaultRule)
    DELETE /_sim/faults                remove all rules (the mailbox limit goes back to 4)
    GET    /_sim/stats                 requests per area and per status
    DELETE /_sim/stats                 zero the counters

Microsoft directory endpoints live under ``/_sim/microsoft`` (see
:mod:`simulator.microsoft.identity_control`); Graph and Google add their own under
``/_sim/graph`` and ``/_sim/google``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.faults import FaultRule, fault_state
from simulator.microsoft import identity_control
from simulator.world import World


def _world(request: Request) -> World:
    world: World = request.app.state.world
    return world


async def _json(request: Request) -> dict[str, Any]:
    if not await request.body():
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


async def reset(request: Request) -> Response:
    _world(request).reset()
    return JSONResponse({"ok": True})


def _clock(world: World) -> dict[str, Any]:
    return {"now": world.now().isoformat(), "offset_seconds": world.clock_offset}


async def clock(request: Request) -> Response:
    world = _world(request)
    if request.method == "POST":
        try:
            seconds = float((await _json(request))["advance_seconds"])
        except (KeyError, ValueError, TypeError):
            return JSONResponse({"error": "give {'advance_seconds': number}"}, 400)
        if seconds < 0:
            return JSONResponse({"error": "the clock only moves forward"}, 400)
        world.advance(seconds)
    return JSONResponse(_clock(world))


def _faults_json(world: World) -> dict[str, Any]:
    state = fault_state(world)
    return {
        "rules": [r.to_json() for r in state.rules],
        "mailbox_concurrency_limit": state.mailbox_concurrency_limit,
    }


async def faults(request: Request) -> Response:
    world = _world(request)
    state = fault_state(world)
    try:
        if request.method == "PUT":
            body = await _json(request)
            rules = [FaultRule.from_json(r) for r in body.get("rules", [])]
            with world.lock:
                state.rules = rules
                if "mailbox_concurrency_limit" in body:
                    state.mailbox_concurrency_limit = int(body["mailbox_concurrency_limit"])
        elif request.method == "DELETE":
            with world.lock:
                state.rules = []
                state.mailbox_concurrency_limit = 4
    except (ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, 400)
    return JSONResponse(_faults_json(world))


async def add_fault_rule(request: Request) -> Response:
    world = _world(request)
    try:
        rule = FaultRule.from_json(await _json(request))
    except (ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, 400)
    with world.lock:
        fault_state(world).rules.append(rule)
    return JSONResponse(_faults_json(world))


async def stats(request: Request) -> Response:
    world = _world(request)
    state = fault_state(world)
    with world.lock:
        if request.method == "DELETE":
            state.counts.clear()
        return JSONResponse(state.stats())


def routes(world: World) -> list[BaseRoute]:
    """The ``/_sim`` control routes (generic ones and the Microsoft directory's)."""
    return [
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/clock", clock, methods=["GET", "POST"]),
        Route("/_sim/faults", faults, methods=["GET", "PUT", "DELETE"]),
        Route("/_sim/faults/rules", add_fault_rule, methods=["POST"]),
        Route("/_sim/stats", stats, methods=["GET", "DELETE"]),
        *identity_control.routes(),
    ]
