"""Pulling an Outlook calendar through the real Graph adapter against the simulator, with the
stores on Azurite: external events become busy intervals (never content), moves and deletions
follow, an invalidated delta link resyncs without duplicates, a pull stopped after one page
resumes, and changes of our own events reach the host app's feed once."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost.azurite import Azurite
from shared.clock import ManualClock
from shared.consent.context import ConsentContext
from shared.errors import Throttled
from shared.providers.base import Attendee, CalendarClient, EventDraft
from shared.providers.factory import SettingsProviderKit
from shared.providers.microsoft.calendar import GraphCalendarClient
from shared.secrets.memory_store import MemorySecretStore
from shared.settings import Settings
from shared.storage.azure_tables import AzureTableStore
from shared.storage.keys import encode_key, join_key
from shared.storage.memory_queues import MemoryQueueSender
from shared.storage.tables import Entity, TableStore
from shared.sync.busy import BusyStore
from shared.sync.calendars import CalendarRef
from shared.sync.context import SyncContext
from shared.sync.cursors import CursorStore
from shared.sync.pull import pull_calendar
from tests.providers.microsoft_support import (  # noqa: F401 (fixtures)
    Org,
    org_fixture,
    sim_fixture,
)

SECRET_SUBJECT = "Merger talks with Fabrikam (strictly confidential)"
SECRET_BODY = "Walk-away price and the names of the negotiators"
PULL_TABLES = ("busy", "cursors", "notifications", "eventrefs", "eventindex", "appevents")
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return DAY + timedelta(days=day, hours=hour, minutes=minute)


def dtz(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).replace(tzinfo=None).isoformat(), "timeZone": "UTC"}


def sync_context(azurite: Azurite, settings: Settings) -> SyncContext:
    tables = AzureTableStore.from_connection_string(
        azurite.connection_string, table_prefix="pull" + secrets.token_hex(3)
    )
    consent = ConsentContext(
        settings=settings,
        tables=tables,
        secrets=MemorySecretStore(),
        clock=ManualClock(datetime.now(UTC)),
        kit=SettingsProviderKit(settings),
    )
    return SyncContext(consent=consent, queues=MemoryQueueSender())


def table_text(tables: TableStore) -> str:
    """Everything the pull tables hold, as one string (to look for calendar content)."""
    rows = [
        {"pk": e.partition_key, "rk": e.row_key, **{k: str(v) for k, v in e.fields.items()}}
        for name in PULL_TABLES
        for e in tables.query(name)
    ]
    return json.dumps(rows)


def map_our_event(
    sctx: SyncContext,
    ref: CalendarRef,
    written_id: str,
    change_key: str,
    *,
    app_event: str,
    start: datetime,
    end: datetime,
    room: str = "",
) -> None:
    """The rows the push path writes after the provider accepted a create, written through the
    table schema of docs/sync-design.md (eventindex, eventrefs, appevents)."""
    tables, org = sctx.consent.tables, ref.org
    tables.upsert(
        "appevents",
        Entity(
            encode_key(org),
            encode_key(app_event),
            {
                "subject": "Shift: front desk",
                "start": start,
                "end": end,
                "people": json.dumps([ref.person]),
                "room": room or None,
                "status": "active",
                "version": 1,
            },
        ),
    )
    tables.upsert(
        "eventrefs",
        Entity(
            join_key(org, app_event),
            encode_key(ref.person),
            {
                "calendar": ref.key,
                "provider": ref.provider,
                "provider_event_id": written_id,
                "change_key": change_key,
                "org": org,
                "app_event": app_event,
                "person": ref.person,
                "pushed_version": 1,
                "generation": 0,
                "state": "active",
                "room_response": "pending" if room else None,
            },
        ),
    )
    tables.upsert(
        "eventindex",
        Entity(
            ref.key,
            encode_key(written_id),
            {"org": org, "app_event": app_event, "person": ref.person},
        ),
    )


def feed(sctx: SyncContext, org: str) -> list[tuple[str, dict[str, Any]]]:
    return [(n.kind, n.data) for n in sctx.consent.outbox.after(org)]


@dataclass
class Outlook:
    org: Org
    sctx: SyncContext
    ref: CalendarRef
    client: GraphCalendarClient
    email: str

    def event(self, subject: str, start: datetime, end: datetime, **more: Any) -> str:
        """The person creates an event in Outlook (not through the service)."""
        body = {"subject": subject, "start": dtz(start), "end": dtz(end), **more}
        return str(self.org.sim.graph.create_event(self.email, body)["id"])

    def busy(self) -> dict[str, tuple[datetime, datetime, str]]:
        rows = BusyStore(self.sctx.consent.tables).all(self.ref.key)
        return {b.event_id: (b.start, b.end, b.show_as) for b in rows}

    def pull(self, client: CalendarClient | None = None, **options: Any) -> Any:
        return pull_calendar(self.sctx, self.ref, client or self.client, **options)


@pytest.fixture(name="outlook")
def outlook_fixture(org: Org, azurite: Azurite) -> Iterator[Outlook]:
    sctx = sync_context(azurite, org.settings)
    email = org.user["mail"]
    ref = CalendarRef("org-" + uuid.uuid4().hex[:8], "int-ms", "microsoft", "bob", mailbox=email)
    client = GraphCalendarClient(org.settings, org.auth().token_source(org.connect()))
    try:
        yield Outlook(org, sctx, ref, client, email)
    finally:
        client.close()


def test_external_events_become_busy_intervals_with_no_content_stored(outlook: Outlook) -> None:
    meeting = outlook.event(
        SECRET_SUBJECT,
        at(9),
        at(10),
        body={"contentType": "text", "content": SECRET_BODY},
        attendees=[{"emailAddress": {"address": "cfo@fabrikam.example"}, "type": "required"}],
        location={"displayName": "Boardroom 7"},
    )
    tentative = outlook.event("Dentist", at(14), at(15), showAs="tentative")
    outlook.event("Focus time", at(16), at(17), showAs="free")

    report = outlook.pull()

    assert report.complete and report.changes == 3 and report.ours == 0
    assert outlook.busy() == {
        meeting: (at(9), at(10), "busy"),
        tentative: (at(14), at(15), "tentative"),
    }
    stored = table_text(outlook.sctx.consent.tables)
    for content in (SECRET_SUBJECT, SECRET_BODY, "cfo@fabrikam.example", "Boardroom 7", "Dentist"):
        assert content not in stored
    assert feed(outlook.sctx, outlook.ref.org) == []


def test_external_move_updates_and_delete_removes_the_interval(outlook: Outlook) -> None:
    moved = outlook.event("Weekly sync", at(9), at(10))
    deleted = outlook.event("Lunch", at(12), at(13))
    freed = outlook.event("Offsite", at(15), at(16))
    outlook.pull()
    assert set(outlook.busy()) == {moved, deleted, freed}

    outlook.org.sim.graph.move_event(outlook.email, moved, at(11), at(12, 30))
    outlook.org.sim.graph.delete_event(outlook.email, deleted)
    outlook.org.sim.graph.update_event(outlook.email, freed, {"showAs": "free"})
    report = outlook.pull()

    assert report.complete and not report.full_resync
    assert outlook.busy() == {moved: (at(11), at(12, 30), "busy")}
    # A second pull with nothing new changes nothing.
    again = outlook.pull()
    assert (again.changes, again.busy_upserts, again.busy_removals) == (0, 0, 0)


def test_invalidated_delta_link_resyncs_without_duplicates(outlook: Outlook) -> None:
    kept = outlook.event("Standup", at(9), at(9, 15))
    gone = outlook.event("Review", at(10), at(11))
    outlook.pull()
    cursor_before = CursorStore(outlook.sctx.consent.tables).get(outlook.ref.key)
    assert cursor_before is not None and cursor_before.complete

    outlook.org.sim.graph.delete_event(outlook.email, gone)
    added = outlook.event("Planning", at(13), at(14))
    assert outlook.org.sim.graph.invalidate_delta(outlook.email) >= 1
    report = outlook.pull()

    assert report.full_resync and report.complete
    assert outlook.busy() == {
        kept: (at(9), at(9, 15), "busy"),
        added: (at(13), at(14), "busy"),
    }
    rows = list(outlook.sctx.consent.tables.query("busy", outlook.ref.key))
    assert len(rows) == 2
    after = CursorStore(outlook.sctx.consent.tables).get(outlook.ref.key)
    assert after is not None and after.round != cursor_before.round and after.last_error is None


def test_pull_stopped_after_one_page_resumes_where_it_stopped(outlook: Outlook) -> None:
    ids = [outlook.event(f"Slot {i}", at(8 + i), at(8 + i, 30)) for i in range(5)]
    first = outlook.pull(page_size=2, max_pages=1)
    assert (first.pages, first.complete) == (1, False)
    saved = CursorStore(outlook.sctx.consent.tables).get(outlook.ref.key)
    assert saved is not None and saved.cursor and not saved.complete
    assert len(outlook.busy()) == 2

    # The next page request fails (the mailbox throttles): nothing is lost, the cursor stays.
    outlook.org.sim.add_fault_rule(
        area="graph", tenant=outlook.org.tenant["id"], throttle_probability=1.0
    )
    try:
        with pytest.raises(Throttled):
            outlook.pull(page_size=2)
    finally:
        outlook.org.sim.set_faults(
            rules=[
                r
                for r in outlook.org.sim.faults()["rules"]
                if r.get("tenant") != outlook.org.tenant["id"]
            ]
        )
    failed = CursorStore(outlook.sctx.consent.tables).get(outlook.ref.key)
    assert failed is not None
    assert (failed.cursor, failed.last_error) == (saved.cursor, "provider_throttled")

    rest = outlook.pull(page_size=2)
    assert rest.complete and not rest.full_resync and rest.changes == 3
    assert sorted(outlook.busy()) == sorted(ids)


def test_move_of_our_event_in_outlook_is_reported_once_and_echoes_are_not(
    outlook: Outlook,
) -> None:
    draft = EventDraft(
        key="k-" + uuid.uuid4().hex,
        app_ref="shift-7",
        subject="Shift: front desk",
        start=at(9),
        end=at(10),
    )
    written = outlook.client.create_event(draft)
    map_our_event(
        outlook.sctx,
        outlook.ref,
        written.id,
        written.change_key,
        app_event="shift-7",
        start=at(9),
        end=at(10),
    )
    outlook.event("External", at(11), at(12))

    first = outlook.pull()
    assert (first.ours, first.echoes, first.notifications) == (1, 1, 0)
    assert written.id not in outlook.busy()

    outlook.org.sim.graph.move_event(outlook.email, written.id, at(13), at(14))
    outlook.pull()
    outlook.pull()
    assert feed(outlook.sctx, outlook.ref.org) == [
        (
            "event_moved",
            {
                "app_event": "shift-7",
                "person": "bob",
                "integration_id": "int-ms",
                "provider": "microsoft",
                "provider_event_id": written.id,
                "start": at(13).isoformat(),
                "end": at(14).isoformat(),
            },
        )
    ]
    assert written.id not in outlook.busy()

    # The person deletes it in Outlook: the host app hears once more, then never again.
    outlook.org.sim.graph.delete_event(outlook.email, written.id)
    outlook.pull()
    outlook.pull()
    kinds = [kind for kind, _ in feed(outlook.sctx, outlook.ref.org)]
    assert kinds == ["event_moved", "event_cancelled"]
    mapping = outlook.sctx.consent.tables.get(
        "eventrefs", join_key(outlook.ref.org, "shift-7"), encode_key("bob")
    )
    assert mapping is not None and mapping.fields["state"] == "gone"


def wait_for_room_answer(outlook: Outlook, event_id: str, timeout: float = 10.0) -> None:
    """The room's booking assistant answers a moment after the booking (as in Exchange)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (event,) = [e for e in outlook.org.sim.graph.events(outlook.email) if e["id"] == event_id]
        answers = [a["status"]["response"] for a in event.get("attendees", [])]
        if answers and all(a not in ("none", "notResponded") for a in answers):
            return
        time.sleep(0.05)
    raise AssertionError("the room did not answer")


def test_room_declining_our_event_reaches_the_feed(outlook: Outlook) -> None:
    room = outlook.org.sim.create_room(outlook.org.tenant["id"], "room-oslo", display_name="Oslo")
    outlook.org.sim.graph.set_room_policy(room["mail"], "decline_when_busy")
    outlook.org.sim.graph.create_event(
        room["mail"], {"subject": "Taken", "start": dtz(at(9)), "end": dtz(at(10))}
    )
    draft = EventDraft(
        key="k-" + uuid.uuid4().hex,
        app_ref="booking-3",
        subject="Booking",
        start=at(9),
        end=at(10),
        attendees=(Attendee(email=room["mail"], name="Oslo", kind="resource"),),
    )
    written = outlook.client.create_event(draft)
    map_our_event(
        outlook.sctx,
        outlook.ref,
        written.id,
        written.change_key,
        app_event="booking-3",
        start=at(9),
        end=at(10),
        room=room["mail"],
    )
    wait_for_room_answer(outlook, written.id)
    outlook.pull()
    outlook.pull()
    kinds = [(kind, data.get("room")) for kind, data in feed(outlook.sctx, outlook.ref.org)]
    assert kinds == [("room_declined", room["mail"])]
    mapping = outlook.sctx.consent.tables.get(
        "eventrefs", join_key(outlook.ref.org, "booking-3"), encode_key("bob")
    )
    assert mapping is not None and mapping.fields["room_response"] == "declined"
