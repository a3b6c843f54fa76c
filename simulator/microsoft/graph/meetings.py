"""Meetings: attendee copies, room mailboxes that answer bookings, responses and cancellations.

Exchange puts a copy of a meeting (same ``iCalUId``) in each attendee's calendar. A room mailbox's
booking assistant answers on its own, a moment later, following its policy
(``MsUser.room_policy``): ``accept``; ``decline_when_busy`` (decline when the slot overlaps a
booking it already accepted); ``never_answer`` (the booking stays unanswered, the "pending"
state). The answer changes ``attendees[].status.response`` in the organizer's event, which is
an update and so a change notification to the organizer's subscriptions. A declined meeting
leaves the decliner's calendar; an organizer's delete or cancel sends a cancellation (attendee
copies get ``isCancelled: true``), see https://learn.microsoft.com/graph/api/event-delete and
https://learn.microsoft.com/graph/api/event-cancel.

Every function here expects the caller to hold ``world.lock`` (room answers take it themselves).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.microsoft.directory import MsUser, directory
from simulator.microsoft.graph import dispatch
from simulator.microsoft.graph.events import delete_event, new_event, touch
from simulator.microsoft.graph.state import StoredEvent, graph_state
from simulator.microsoft.graph.times import iso_utc
from simulator.world import World

# What the organizer's changes carry over to attendee copies.
SHARED = (
    "subject",
    "body",
    "bodyPreview",
    "location",
    "locations",
    "attendees",
    "categories",
    "isAllDay",
    "sensitivity",
    "importance",
    "isOnlineMeeting",
    "hideAttendees",
)


def _user(world: World, tenant_id: str, address: str) -> MsUser | None:
    tenant = directory(world).tenants.get(tenant_id)
    return tenant.find_user(address) if tenant else None


def copies(world: World, tenant_id: str, ical_uid: str) -> list[StoredEvent]:
    """Every live event with ``ical_uid`` in the mailboxes of ``tenant_id``."""
    tenant = directory(world).tenants.get(tenant_id)
    if tenant is None:
        return []
    found: list[StoredEvent] = []
    for user_id in tenant.users:
        mailbox = graph_state(world).mailboxes.get(user_id)
        if mailbox is None:
            continue
        found.extend(e for e in mailbox.live() if e.data["iCalUId"] == ical_uid)
    return found


def organizer_event(world: World, ev: StoredEvent) -> StoredEvent | None:
    tenant_id = _tenant_of(world, ev.mailbox_id)
    address = ev.data["organizer"]["emailAddress"]["address"]
    organizer = _user(world, tenant_id, address)
    if organizer is None:
        return None
    for other in copies(world, tenant_id, ev.data["iCalUId"]):
        if other.mailbox_id == organizer.id:
            return other
    return None


def _tenant_of(world: World, user_id: str) -> str:
    for tenant in directory(world).tenants.values():
        if user_id in tenant.users:
            return tenant.id
    return ""


def _shared_fields(org: StoredEvent) -> dict[str, Any]:
    return {k: org.data[k] for k in SHARED}


def propagate(world: World, org: StoredEvent, *, times_changed: bool) -> None:
    """Bring attendee copies in line with the organizer's event ``org``; rooms answer later."""
    tenant_id = _tenant_of(world, org.mailbox_id)
    organizer = directory(world).tenants[tenant_id].users[org.mailbox_id]
    existing = {
        e.mailbox_id: e for e in copies(world, tenant_id, org.data["iCalUId"]) if e is not org
    }
    wanted: set[str] = set()
    for attendee in org.data["attendees"]:
        user = _user(world, tenant_id, attendee["emailAddress"]["address"])
        if user is None or user.id == organizer.id:
            continue
        wanted.add(user.id)
        copy_ev = existing.get(user.id)
        if copy_ev is None:
            copy_ev = _new_copy(world, user, organizer, org)
        else:
            copy_ev.data.update(_shared_fields(org))
            copy_ev.start, copy_ev.end = org.start, org.end
            if times_changed:
                copy_ev.data["responseStatus"] = {
                    "response": "none",
                    "time": "0001-01-01T00:00:00Z",
                }
            touch(world, copy_ev)
        if user.kind == "room" and (
            times_changed or copy_ev.data["responseStatus"]["response"] == "none"
        ):
            _schedule_room_answer(world, user.id, org.data["iCalUId"])
    for user_id, copy_ev in existing.items():
        if user_id not in wanted:
            _cancel_copy(world, copy_ev)


def _new_copy(world: World, user: MsUser, organizer: MsUser, org: StoredEvent) -> StoredEvent:
    assert org.start is not None
    assert org.end is not None
    body = {
        "start": {"dateTime": iso_utc(org.start).rstrip("Z"), "timeZone": "UTC"},
        "end": {"dateTime": iso_utc(org.end).rstrip("Z"), "timeZone": "UTC"},
    }
    ev = new_event(world, user, body, organizer=organizer, ical_uid=org.data["iCalUId"])
    ev.data.update(_shared_fields(org))
    return ev


def _cancel_copy(world: World, copy_ev: StoredEvent) -> None:
    owner = _owner(world, copy_ev.mailbox_id)
    if owner is not None and owner.kind == "room":
        delete_event(world, copy_ev)  # a room's calendar just drops the booking
        return
    copy_ev.data["isCancelled"] = True
    if not copy_ev.data["subject"].startswith("Canceled: "):
        copy_ev.data["subject"] = "Canceled: " + copy_ev.data["subject"]
    touch(world, copy_ev)


def _owner(world: World, user_id: str) -> MsUser | None:
    for tenant in directory(world).tenants.values():
        if user_id in tenant.users:
            return tenant.users[user_id]
    return None


def cancel_meeting(world: World, org: StoredEvent) -> None:
    """The organizer cancels (or deletes) a meeting: attendees' copies are cancelled."""
    tenant_id = _tenant_of(world, org.mailbox_id)
    for copy_ev in copies(world, tenant_id, org.data["iCalUId"]):
        if copy_ev is not org:
            _cancel_copy(world, copy_ev)


def record_response(
    world: World, ev: StoredEvent, responder: MsUser, response: str, when: datetime
) -> None:
    """``responder`` answered the meeting ``ev`` (their copy): update the organizer's event.

    A declined copy leaves the responder's calendar, as Outlook moves it to Deleted Items.
    """
    stamp = iso_utc(when)
    if response == "declined":
        delete_event(world, ev)
    elif ev.data["responseStatus"]["response"] != response:
        ev.data["responseStatus"] = {"response": response, "time": stamp}
        touch(world, ev)
    org = organizer_event(world, ev)
    if org is None:
        return
    changed = False
    for attendee in org.data["attendees"]:
        same = attendee["emailAddress"]["address"].lower() == responder.mail.lower()
        if same and attendee["status"]["response"] != response:
            attendee["status"] = {"response": response, "time": stamp}
            changed = True
    if changed:
        touch(world, org)


def _overlaps_accepted(world: World, room_id: str, ev: StoredEvent) -> bool:
    assert ev.start is not None
    assert ev.end is not None
    for other in graph_state(world).mailbox(room_id).live():
        if other is ev or other.data["isCancelled"]:
            continue
        if other.data["responseStatus"]["response"] not in ("accepted", "organizer"):
            continue
        assert other.start is not None
        assert other.end is not None
        if other.start < ev.end and ev.start < other.end:
            return True
    return False


def _schedule_room_answer(world: World, room_id: str, ical_uid: str) -> None:
    delay = graph_state(world).settings.room_response_delay
    dispatch.dispatcher(world).schedule(delay, lambda: room_answer(world, room_id, ical_uid))


def room_answer(world: World, room_id: str, ical_uid: str) -> None:
    """The room's booking assistant answers the booking ``ical_uid`` per the room's policy."""
    with world.lock:
        room = _owner(world, room_id)
        if room is None:
            return
        booking = next(
            (
                e
                for e in graph_state(world).mailbox(room_id).live()
                if e.data["iCalUId"] == ical_uid
            ),
            None,
        )
        if booking is None or booking.data["isCancelled"] or room.room_policy == "never_answer":
            return
        busy = room.room_policy == "decline_when_busy" and _overlaps_accepted(
            world, room_id, booking
        )
        record_response(world, booking, room, "declined" if busy else "accepted", world.now())
