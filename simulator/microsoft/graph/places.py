"""Rooms and free/busy: ``/places/microsoft.graph.room`` and ``calendar/getSchedule``.

Contracts: https://learn.microsoft.com/graph/api/place-list (``Place.Read.All``) and
https://learn.microsoft.com/graph/api/calendar-getschedule (``Calendars.ReadBasic`` or higher).
``availabilityView`` has one digit per ``availabilityViewInterval`` minutes (default 30):
0 free, 1 tentative, 2 busy, 3 out of office, 4 working elsewhere.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.microsoft.directory import MsUser
from simulator.microsoft.graph.auth import CALENDAR_FREEBUSY, PLACES, caller
from simulator.microsoft.graph.delta import overlaps
from simulator.microsoft.graph.errors import GraphError, access_denied
from simulator.microsoft.graph.http import BASE, endpoint, json_body, ok, root
from simulator.microsoft.graph.state import graph_state
from simulator.microsoft.graph.times import format_dt, parse_dtz, preferred_zone
from simulator.world import World

DIGIT = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4"}
RANK = {"free": 0, "unknown": 0, "workingElsewhere": 1, "tentative": 2, "busy": 3, "oof": 4}


def room_json(room: MsUser) -> dict[str, Any]:
    return {
        "id": room.id,
        "emailAddress": room.mail,
        "displayName": room.display_name,
        "address": {"street": "", "city": "", "state": "", "countryOrRegion": "", "postalCode": ""},
        "geoCoordinates": None,
        "phone": "",
        "nickname": room.display_name,
        "building": room.building,
        "floorNumber": None,
        "floorLabel": None,
        "label": None,
        "capacity": room.capacity,
        "bookingType": "standard",
        "audioDeviceName": None,
        "videoDeviceName": None,
        "displayDeviceName": None,
        "isWheelChairAccessible": False,
        "tags": [],
    }


async def list_rooms(world: World, request: Request) -> Response:
    who = caller(world, request)
    who.require(PLACES)
    with world.lock:
        value = [room_json(r) for r in who.tenant.rooms()]
    return ok(
        {"@odata.context": f"{root(world)}/$metadata#places/microsoft.graph.room", "value": value}
    )


async def get_schedule(world: World, request: Request) -> Response:
    who = caller(world, request)
    who.require(CALENDAR_FREEBUSY)
    key = request.path_params.get("user", "me")
    body = await json_body(request)
    schedules = body.get("schedules")
    if not isinstance(schedules, list) or not schedules:
        raise GraphError(400, "ErrorInvalidParameter", "schedules is required.")
    start, end = (
        parse_dtz(body.get("startTime"), "startTime"),
        parse_dtz(body.get("endTime"), "endTime"),
    )
    interval = int(body.get("availabilityViewInterval") or 30)
    tz = preferred_zone(request.headers.get("prefer")) or "UTC"
    value = []
    with world.lock:
        if key == "me":
            who.me()
        else:
            target = who.tenant.find_user(key)
            if target is None:
                raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
            if not who.app_only and target.id != who.user_id:
                raise access_denied()
        for address in schedules:
            user = who.tenant.find_user(str(address))
            if user is None:
                value.append(
                    {
                        "scheduleId": address,
                        "availabilityView": "",
                        "scheduleItems": [],
                        "error": {
                            "message": "The specified user could not be found.",
                            "responseCode": "ErrorMailRecipientNotFound",
                        },
                    }
                )
                continue
            events = [
                e
                for e in graph_state(world).mailbox(user.id).live()
                if overlaps(e, start, end) and not e.data["isCancelled"]
            ]
            items = [
                {
                    "isPrivate": e.data["sensitivity"] == "private",
                    "status": e.data["showAs"],
                    "subject": e.data["subject"],
                    "location": e.data["location"]["displayName"],
                    "isMeeting": bool(e.data["attendees"]),
                    "start": format_dt(e.start, tz),  # type: ignore[arg-type]
                    "end": format_dt(e.end, tz),  # type: ignore[arg-type]
                }
                for e in sorted(events, key=lambda e: e.start)  # type: ignore[arg-type, return-value]
            ]
            view = []
            slot = start
            while slot < end:
                slot_end = slot + timedelta(minutes=interval)
                statuses = [e.data["showAs"] for e in events if overlaps(e, slot, slot_end)]
                top = max(statuses, key=lambda s: RANK.get(s, 0), default="free")
                view.append(DIGIT.get(top, "0"))
                slot = slot_end
            value.append(
                {
                    "scheduleId": address,
                    "availabilityView": "".join(view),
                    "scheduleItems": items,
                    "workingHours": {
                        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                        "startTime": "08:00:00.0000000",
                        "endTime": "17:00:00.0000000",
                        "timeZone": {"name": "UTC"},
                    },
                }
            )
    return ok(
        {
            "@odata.context": root(world)
            + "/$metadata#Collection(microsoft.graph.scheduleInformation)",
            "value": value,
        }
    )


def routes(world: World) -> list[BaseRoute]:
    return [
        Route(f"{BASE}/places/microsoft.graph.room", endpoint(world, list_rooms), methods=["GET"]),
        Route(f"{BASE}/me/calendar/getSchedule", endpoint(world, get_schedule), methods=["POST"]),
        Route(
            f"{BASE}/users/{{user}}/calendar/getSchedule",
            endpoint(world, get_schedule),
            methods=["POST"],
        ),
    ]
