"""Admin routes for meeting rooms: the suite's room directory, and the host app's pairings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.errors import NotFound
from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.http.flows import consent_context
from shared.rooms.pairings import Room
from shared.rooms.service import RoomService

bp = ApiBlueprint("rooms")


def _service(request: ApiRequest) -> RoomService:
    return request.services.built("room_service", lambda s: RoomService(consent_context(s)))


class DirectoryRoom(BaseModel):
    email: str
    name: str
    capacity: int | None = None
    building: str = ""


class Directory(BaseModel):
    items: list[DirectoryRoom]


@bp.api(
    "orgs/{org}/rooms/directory",
    name="room_directory",
    auth="admin",
    summary="The cloud suite's rooms, read live (for auto-completing room email addresses)",
    response=Directory,
)
def room_directory(request: ApiRequest) -> Directory:
    rooms = _service(request).directory(request.route["org"])
    return Directory(
        items=[
            DirectoryRoom(email=r.email, name=r.name, capacity=r.capacity, building=r.building)
            for r in rooms
        ]
    )


class RoomIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(
        min_length=3,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="The room mailbox address",
    )
    paired: bool = Field(default=True, description="Pair with the enabled workspace integration")


class RoomView(BaseModel):
    id: str
    name: str
    email: str
    paired: bool
    integration_id: str | None = None
    paired_at: datetime | None = None
    updated_at: datetime


class RoomList(BaseModel):
    items: list[RoomView]


def _view(room: Room) -> RoomView:
    return RoomView(
        id=room.id,
        name=room.name,
        email=room.email,
        paired=room.paired,
        integration_id=room.integration_id,
        paired_at=room.paired_at,
        updated_at=room.updated_at,
    )


@bp.api(
    "orgs/{org}/rooms",
    name="list_rooms",
    auth="admin",
    summary="The host app's rooms and whether each is paired",
    response=RoomList,
)
def list_rooms(request: ApiRequest) -> RoomList:
    return RoomList(items=[_view(r) for r in _service(request).rooms(request.route["org"])])


@bp.api(
    "orgs/{org}/rooms/{room}",
    name="put_room",
    methods=("PUT",),
    auth="admin",
    summary="Create or update a room and pair it (or unpair it, keeping its information)",
    body=RoomIn,
    response=RoomView,
)
def put_room(request: ApiRequest) -> RoomView:
    body: RoomIn = request.body
    room = _service(request).put(
        request.route["org"],
        request.route["room"],
        name=body.name,
        email=body.email,
        pair=body.paired,
    )
    return _view(room)


@bp.api(
    "orgs/{org}/rooms/{room}",
    name="delete_room",
    methods=("DELETE",),
    auth="admin",
    summary="Forget a room entirely",
    status=204,
)
def delete_room(request: ApiRequest) -> Reply:
    if not _service(request).delete(request.route["org"], request.route["room"]):
        raise NotFound("no such room", code="room_not_found")
    return Reply(status=204)
