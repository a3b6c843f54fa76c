"""Rooms from the Admin SDK Directory API (``resources.calendars.list``).

Needs the ``admin.directory.resource.calendar(.readonly)`` scope and a caller who is a Workspace
administrator (or a service account impersonating one); others get 403 "Not Authorized to access
this resource/api" (https://developers.google.com/admin-sdk/directory/reference/rest/v1/
resources.calendars/list). ``my_customer`` names the caller's own Workspace customer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.providers.base import RoomInfo

PAGE_SIZE = 500  # the documented maximum of maxResults
# Calendar resources include equipment; only rooms are bookable spaces.
ROOM_CATEGORY = "CONFERENCE_ROOM"


def list_rooms(service: Any, execute: Callable[[Any], Any]) -> list[RoomInfo]:
    """Every room of the caller's Workspace customer, all pages.

    ``service`` is a built ``admin`` ``directory_v1`` resource; ``execute`` runs one request
    with the adapter's retries and error translation.
    """
    rooms: list[RoomInfo] = []
    page_token: str | None = None
    while True:
        params: dict[str, Any] = {"customer": "my_customer", "maxResults": PAGE_SIZE}
        if page_token:
            params["pageToken"] = page_token
        page = execute(service.resources().calendars().list(**params))
        for item in page.get("items", []):
            category = item.get("resourceCategory")
            if category not in (None, ROOM_CATEGORY):
                continue
            capacity = item.get("capacity")
            rooms.append(
                RoomInfo(
                    email=str(item.get("resourceEmail", "")).lower(),
                    name=str(item.get("resourceName", "")),
                    capacity=int(capacity) if capacity is not None else None,
                    building=str(item.get("buildingId", "")),
                )
            )
        page_token = page.get("nextPageToken")
        if not page_token:
            return rooms
