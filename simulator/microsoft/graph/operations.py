"""Mailbox operations shared by the Graph API and the control API (a person acting in Outlook).

Each takes ``world.lock`` for its whole duration, changes the events, and lets :mod:`.meetings`
carry the change to attendees and rooms.
"""

from __future__ import annotations

from typing import Any

from simulator.microsoft.directory import MsUser
from simulator.microsoft.graph import meetings, series
from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.events import delete_event, find, new_event, update_event
from simulator.microsoft.graph.state import StoredEvent, graph_state
from simulator.world import World


def create(world: World, owner: MsUser, body: dict[str, Any]) -> tuple[StoredEvent, bool]:
    """Create an event; returns ``(event, created)``.

    A repeated ``transactionId`` in the same mailbox returns the event created the first time
    instead of a duplicate, as documented for ``transactionId`` on the event resource.
    """
    if not isinstance(body, dict):
        raise GraphError(400, "ErrorInvalidRequest", "The request body must be a JSON object.")
    with world.lock:
        state = graph_state(world)
        mailbox = state.mailbox(owner.id)
        txn = body.get("transactionId")
        if txn:
            known = mailbox.events.get(mailbox.transactions.get(str(txn), ""))
            if known is not None and not known.deleted:
                return known, False
        ev = new_event(world, owner, body)
        if txn:
            mailbox.transactions[str(txn)] = ev.id
        if ev.data["attendees"]:
            meetings.propagate(world, ev, times_changed=True)
        return ev, True


def update(
    world: World, owner: MsUser, event_id: str, patch: dict[str, Any], if_match: str | None = None
) -> StoredEvent:
    """PATCH an event. Moving a meeting resets attendees' answers; rooms answer again."""
    if not isinstance(patch, dict):
        raise GraphError(400, "ErrorInvalidRequest", "The request body must be a JSON object.")
    with world.lock:
        state = graph_state(world)
        ev = find(state, owner.id, event_id)
        if ev.kind == "occurrence":
            # Editing one occurrence makes it an exception of its series
            # (https://learn.microsoft.com/graph/outlook-schedule-recurring-events).
            series.make_exception(state, ev)
        before = (ev.start, ev.end)
        update_event(world, ev, patch, if_match)
        if ev.kind == "seriesMaster":
            # A changed rule (e.g. the series ends early) drops exceptions it no longer has.
            for gone in series.outside(state, ev):
                delete_event(world, gone)
        times_changed = before != (ev.start, ev.end)
        if ev.data["isOrganizer"] and (ev.data["attendees"] or "attendees" in patch):
            if times_changed:
                for attendee in ev.data["attendees"]:
                    attendee["status"] = {"response": "none", "time": "0001-01-01T00:00:00Z"}
            meetings.propagate(world, ev, times_changed=times_changed)
        return ev


def delete(world: World, owner: MsUser, event_id: str) -> None:
    """Delete an event; an organizer's meeting is cancelled for its attendees.

    Deleting one occurrence cancels it (it leaves the series); deleting a master deletes the
    whole series, exceptions included.
    """
    with world.lock:
        state = graph_state(world)
        ev = find(state, owner.id, event_id)
        if ev.kind == "occurrence":
            series.keep(state, ev)
        elif ev.data["isOrganizer"] and ev.data["attendees"]:
            meetings.cancel_meeting(world, ev)
        delete_event(world, ev)
        if ev.kind == "seriesMaster":
            for gone in series.outside(state, ev):
                delete_event(world, gone)


def cancel(world: World, owner: MsUser, event_id: str) -> None:
    """``POST /events/{id}/cancel``: organizer only (400 ``ErrorAccessDenied`` style otherwise)."""
    with world.lock:
        ev = find(graph_state(world), owner.id, event_id)
        if not ev.data["isOrganizer"]:
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. You need to be an organizer to cancel a meeting.",
            )
        meetings.cancel_meeting(world, ev)
        delete_event(world, ev)


def respond(world: World, owner: MsUser, event_id: str, response: str) -> None:
    """``accept``/``tentativelyAccept``/``decline`` as an attendee of the meeting ``event_id``."""
    with world.lock:
        ev = find(graph_state(world), owner.id, event_id)
        if ev.data["isOrganizer"]:
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. You can't respond to a meeting you organized.",
            )
        meetings.record_response(world, ev, owner, response, world.now())
