"""Judging a pulled change of one of our own events: what the host app must be told.

:func:`judge` is pure (no I/O): from the change, the stored picture of our event and the
calendar owner's address it decides the notifications and the mapping fields to write. The
pull loop (:mod:`shared.sync.pull`) loads the picture with :func:`load_ours`, sends the
notifications and writes the fields with the mapping row's ETag.

Rows read (owned by the push path, see docs/sync-design.md): ``eventindex`` (calendar key,
provider event id) -> org, app_event, person; ``eventrefs`` (``org|app_event``, person) -> the
mapping; ``appevents`` (org, app event id) -> the host app's event. Fields the pull writes on
``eventrefs``: ``change_key``, ``person_response``, ``room_response``, and ``pulled_start``/
``pulled_end`` (the times last seen in the calendar, so a move is reported once; a push that
rewrites the row drops them, which is right: the calendar then holds the host app's times). A
deletion in the calendar turns the row to ``state = gone`` exactly as ``mappings.EventRefs.
mark_gone`` does (``pushed_version`` raised to the host-app version seen, room answer cleared),
so the push path re-creates the event only for a later host-app version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.providers.base import Attendee, Change
from shared.storage.keys import encode_key, join_key
from shared.storage.tables import Entity, FieldValue
from shared.sync.calendars import CalendarRef
from shared.sync.context import SyncContext

EVENTINDEX = "eventindex"
EVENTREFS = "eventrefs"
APPEVENTS = "appevents"


@dataclass(frozen=True)
class OurEvent:
    """What we know of one of our events in one person's calendar (references only)."""

    org: str
    app_event: str
    person: str
    refs_partition: str
    refs_row: str
    etag: str | None
    change_key: str = ""
    person_response: str = ""
    room_response: str = ""
    pulled_start: datetime | None = None
    pulled_end: datetime | None = None
    state: str = "active"  # mappings.RefState: active, gone (deleted in the calendar), deleted
    provider_event_id: str = ""
    pushed_version: int = 0
    # The host app's event: does it still want this person there, at which times?
    wanted: bool = False
    settled: bool = False  # the last version the host app wrote has been pushed
    app_version: int = 0
    app_start: datetime | None = None
    app_end: datetime | None = None


@dataclass
class Verdict:
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    updates: dict[str, FieldValue] = field(default_factory=dict)


def _time(fields: dict[str, FieldValue], name: str) -> datetime | None:
    value = fields.get(name)
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _int(fields: dict[str, FieldValue], name: str) -> int:
    value = fields.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def app_event_people(fields: dict[str, FieldValue]) -> list[str]:
    """The person ids of an ``appevents`` row (a JSON list)."""
    raw = fields.get("people")
    try:
        people = json.loads(raw) if isinstance(raw, str) and raw else []
    except ValueError:
        return []
    found: list[str] = []
    for item in people if isinstance(people, list) else []:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            found.append(item["id"])
    return found


def load_ours(sctx: SyncContext, ref: CalendarRef, event_id: str) -> OurEvent | None:
    """The stored picture of our event ``event_id`` in ``ref``; ``None`` when not mapped."""
    tables = sctx.consent.tables
    index = tables.get(EVENTINDEX, ref.key, encode_key(event_id))
    if index is None:
        return None
    org, app_event = index.get_str("org"), index.get_str("app_event")
    person = index.get_str("person") or ref.person
    refs_partition, refs_row = join_key(org, app_event), encode_key(person)
    refs = tables.get(EVENTREFS, refs_partition, refs_row)
    if refs is None:
        return None
    app = tables.get(APPEVENTS, encode_key(org), encode_key(app_event))
    return _picture(org, app_event, person, refs, app)


def _picture(org: str, app_event: str, person: str, refs: Entity, app: Entity | None) -> OurEvent:
    f = refs.fields
    wanted = settled = False
    app_start = app_end = None
    app_version = 0
    if app is not None:
        a = app.fields
        wanted = app.get_str("status", "active") != "cancelled" and person in app_event_people(a)
        app_version = _int(a, "version")
        settled = _int(f, "pushed_version") >= app_version
        app_start, app_end = _time(a, "start"), _time(a, "end")
    return OurEvent(
        org=org,
        app_event=app_event,
        person=person,
        refs_partition=refs.partition_key,
        refs_row=refs.row_key,
        etag=refs.etag,
        change_key=refs.get_str("change_key"),
        person_response=refs.get_str("person_response"),
        room_response=refs.get_str("room_response"),
        pulled_start=_time(f, "pulled_start"),
        pulled_end=_time(f, "pulled_end"),
        state=refs.get_str("state", "active"),
        provider_event_id=refs.get_str("provider_event_id"),
        pushed_version=_int(f, "pushed_version"),
        wanted=wanted,
        settled=settled,
        app_version=app_version,
        app_start=app_start,
        app_end=app_end,
    )


def owner_email(sctx: SyncContext, ref: CalendarRef) -> str:
    """The calendar owner's address: the connected account (workspace), else the host app's
    person email, else the mailbox (service integrations name mailboxes by address)."""
    from shared.sync.people import People

    connection = sctx.consent.connections.get(ref.org, ref.integration_id, ref.person)
    if connection is not None and connection.account:
        return connection.account
    person = People(sctx.consent.tables).get(ref.org, ref.person)
    if person is not None and person.email:
        return person.email
    return ref.mailbox if "@" in ref.mailbox else ""


def _same(a: str, b: str) -> bool:
    return bool(a) and a.casefold() == b.casefold()


def _room(change: Change) -> Attendee | None:
    # A host-app event books at most one room, which the push path sends as the only
    # ``resource`` attendee (Graph: attendee type resource; Google: ``resource: true``).
    return next((a for a in change.attendees if a.kind == "resource"), None)


def judge(change: Change, ours: OurEvent, owner: str) -> Verdict:
    """Decide what one change of our event means for the host app.

    * a row that no longer maps this provider event (we deleted it, or re-created it under
      another id) or the stored change key (an echo of our own write, or a change already
      judged): nothing;
    * removed or cancelled: ``event_cancelled`` and the row turns ``gone``, unless the host
      app itself no longer wants the event there (then it is our own delete coming back);
    * other times than the host app's event and than last seen: ``event_moved``, only when the
      mapping is settled (a push still pending will overwrite the calendar anyway);
    * the owner's answer turned to declined: ``person_declined``;
    * the room's answer changed: ``room_declined`` or ``room_accepted``.
    """
    verdict = Verdict()
    live = ours.state == "active" and ours.provider_event_id in ("", change.id)
    if not live or (change.change_key and change.change_key == ours.change_key):
        return verdict
    ids = {"provider_event_id": change.id}
    if change.removed or change.is_cancelled:
        if ours.wanted:
            verdict.notifications.append(("event_cancelled", ids))
        verdict.updates.update(
            state="gone",
            pushed_version=max(ours.pushed_version, ours.app_version),
            room_response=None,
            pulled_start=None,
            pulled_end=None,
        )
        return verdict
    if change.change_key:
        verdict.updates["change_key"] = change.change_key
    if change.start is not None and change.end is not None:
        seen = (change.start, change.end)
        if (
            ours.wanted
            and ours.settled
            and seen != (ours.app_start, ours.app_end)
            and seen != (ours.pulled_start, ours.pulled_end)
        ):
            moved = {"start": change.start.isoformat(), "end": change.end.isoformat()}
            verdict.notifications.append(("event_moved", {**ids, **moved}))
        if seen != (ours.pulled_start, ours.pulled_end):
            verdict.updates["pulled_start"], verdict.updates["pulled_end"] = seen
    own = next((a for a in change.attendees if _same(a.email, owner)), None)
    if own is not None and own.response != ours.person_response and own.response != "none":
        if own.response == "declined" and ours.wanted:
            verdict.notifications.append(("person_declined", ids))
        verdict.updates["person_response"] = own.response
    room = _room(change)
    if room is not None and room.response != ours.room_response and room.response != "none":
        if room.response == "declined":
            verdict.notifications.append(("room_declined", {**ids, "room": room.email}))
        elif room.response == "accepted":
            verdict.notifications.append(("room_accepted", {**ids, "room": room.email}))
        verdict.updates["room_response"] = room.response
    return verdict
