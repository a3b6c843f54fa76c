"""The CalendarClient contract: the in-memory twin (in each of its dedupe modes), the Graph
adapter and the Google adapter on the simulator pass the same tests.

Each implementation sits behind a small harness: a connected client for a fresh organisation,
"the person" acting in Outlook or Google Calendar directly (the simulator's control clients, or
the memory backend's own methods), and the provider-side view of the calendar. Where Graph and
Google differ, a test asserts only what both guarantee and says why.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

import pytest

from shared.errors import (
    CursorExpired,
    PreconditionFailed,
    ProviderDenied,
    ProviderNotFound,
    Throttled,
)
from shared.providers.base import CalendarClient, Change, EventDraft, RoomInfo
from shared.providers.memory import Dedupe, MemoryCalendarBackend
from shared.providers.microsoft.calendar import GraphCalendarClient
from tests.providers import google_support, microsoft_support
from tests.providers.microsoft_support import org_fixture, sim_fixture  # noqa: F401 (fixtures)

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
WINDOW = (DAY - timedelta(days=1), DAY + timedelta(days=7))


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


def draft(key: str = "", hour: int = 9, **changes: Any) -> EventDraft:
    values: dict[str, Any] = {
        "key": key or "k-" + uuid.uuid4().hex,
        "app_ref": "contoso|shift-1",
        "subject": "Desk booking",
        "start": at(hour),
        "end": at(hour + 1),
        "body": "Booked through the host app",
    }
    values.update(changes)
    return EventDraft(**values)


class Harness(Protocol):
    """One implementation with a fresh calendar, and the person acting on it directly."""

    email: str
    display_name: str
    rooms: set[str]  # the room addresses of the suite

    def client(self) -> CalendarClient: ...
    def rooms_client(self) -> CalendarClient: ...
    def person_creates(self, subject: str, start: datetime, end: datetime) -> str: ...
    def person_renames(self, event_id: str, subject: str) -> None: ...
    def person_moves(self, event_id: str, start: datetime, end: datetime) -> None: ...
    def person_deletes(self, event_id: str) -> None: ...
    def invalidate_cursors(self) -> None: ...
    def live_ids(self) -> set[str]: ...
    def subscription_ids(self) -> set[str]: ...
    def throttling(self, retry_after: int) -> AbstractContextManager[None]: ...
    def now(self) -> datetime: ...


class MemoryHarness:
    def __init__(self, dedupe: Dedupe) -> None:
        self.backend = MemoryCalendarBackend(dedupe=dedupe)
        self.email, self.display_name = "ann@contoso.example", "Ann Person"
        self.backend.add_calendar(self.email, self.display_name)
        self.rooms = {"lisbon@contoso.example", "oslo@contoso.example"}
        for room in sorted(self.rooms):
            self.backend.add_room(RoomInfo(room, room.split("@")[0].title(), 8))

    def client(self) -> CalendarClient:
        return self.backend.client(self.email)

    def rooms_client(self) -> CalendarClient:
        return self.backend.client(self.email, may_read_rooms=True)

    def person_creates(self, subject: str, start: datetime, end: datetime) -> str:
        return self.backend.person_creates(self.email, subject, start, end)

    def person_renames(self, event_id: str, subject: str) -> None:
        self.backend.person_edits(self.email, event_id, subject=subject)

    def person_moves(self, event_id: str, start: datetime, end: datetime) -> None:
        self.backend.person_edits(self.email, event_id, start=start, end=end)

    def person_deletes(self, event_id: str) -> None:
        self.backend.person_deletes(self.email, event_id)

    def invalidate_cursors(self) -> None:
        self.backend.invalidate_cursors(self.email)

    def live_ids(self) -> set[str]:
        return {e.id for e in self.backend.live(self.email)}

    def subscription_ids(self) -> set[str]:
        return {s.id for s in self.backend.subscriptions()}

    def now(self) -> datetime:
        return datetime.now(UTC)

    @contextmanager
    def throttling(self, retry_after: int) -> Iterator[None]:
        self.backend.set_throttling(self.email, retry_after)
        try:
            yield
        finally:
            self.backend.set_throttling(self.email, None)


def _dtz(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).replace(tzinfo=None).isoformat(), "timeZone": "UTC"}


@contextmanager
def _fault_rule(sim: Any, **rule: Any) -> Iterator[None]:
    before = sim.faults()
    sim.add_fault_rule(**rule)
    try:
        yield
    finally:
        sim.set_faults(before["rules"])  # only this test's rule goes


class GraphHarness:
    def __init__(self, org: microsoft_support.Org) -> None:
        self.org, self.graph = org, org.sim.graph
        self.email, self.display_name = org.user["mail"], "Bob Builder"
        tenant = org.tenant["id"]
        made = [org.sim.create_room(tenant, n, display_name=n.title()) for n in ("atlas", "boreas")]
        self.rooms = {str(room["mail"]) for room in made}
        self._tokens = org.auth().token_source(org.connect())

    def client(self) -> CalendarClient:
        return GraphCalendarClient(self.org.settings, self._tokens)

    def rooms_client(self) -> CalendarClient:
        # Graph lists rooms with the application permission Place.Read.All (app-only token).
        tenant = self.org.tenant["id"]
        self.org.sim.grant_consent(tenant, self.org.app["client_id"], app_roles=["Place.Read.All"])
        source = self.org.auth().app_auth(tenant).token_source()
        return GraphCalendarClient(self.org.settings, source, user="rooms")

    def person_creates(self, subject: str, start: datetime, end: datetime) -> str:
        body = {"subject": subject, "start": _dtz(start), "end": _dtz(end)}
        return str(self.graph.create_event(self.email, body)["id"])

    def person_renames(self, event_id: str, subject: str) -> None:
        self.graph.update_event(self.email, event_id, {"subject": subject})

    def person_moves(self, event_id: str, start: datetime, end: datetime) -> None:
        self.graph.move_event(self.email, event_id, start, end)

    def person_deletes(self, event_id: str) -> None:
        self.graph.delete_event(self.email, event_id)

    def invalidate_cursors(self) -> None:
        self.graph.invalidate_delta(self.email)

    def live_ids(self) -> set[str]:
        return {str(e["id"]) for e in self.graph.events(self.email)}

    def subscription_ids(self) -> set[str]:
        return {str(s["id"]) for s in self.graph.subscriptions()}

    def now(self) -> datetime:
        # Graph judges expiries by the simulated clock, which other tests may have advanced.
        return datetime.fromisoformat(str(self.org.sim.clock()["now"]).replace("Z", "+00:00"))

    def throttling(self, retry_after: int) -> AbstractContextManager[None]:
        return _fault_rule(
            self.org.sim,
            area="graph",
            tenant=self.org.tenant["id"],
            throttle_probability=1.0,
            retry_after_seconds=retry_after,
        )


class GoogleHarness:
    def __init__(self, org: google_support.Org) -> None:
        self.org, self.google = org, org.google
        self.email, self.display_name = org.ann, "Ann Person"
        self.rooms = {f"lisbon@{org.domain}", f"oslo@{org.domain}"}
        self._grant = org.connect(org.ann)
        self._opened: list[CalendarClient] = []

    def client(self) -> CalendarClient:
        from shared.providers.google.auth import GoogleUserTokenSource
        from shared.providers.google.calendar import GoogleCalendarClient

        tokens = GoogleUserTokenSource(self.org.auth(), self._grant.token_blob)
        self._opened.append(GoogleCalendarClient(self.org.settings, tokens))
        return self._opened[-1]

    def rooms_client(self) -> CalendarClient:
        # Google lists rooms through the Admin SDK: the Workspace admin's grant.
        self._opened.append(self.org.calendar(self.org.admin))
        return self._opened[-1]

    def close(self) -> None:
        for client in self._opened:
            client.close()

    def person_creates(self, subject: str, start: datetime, end: datetime) -> str:
        body = {
            "summary": subject,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": end.isoformat()},
        }
        return str(self.google.create_event(self.email, body)["id"])

    def person_renames(self, event_id: str, subject: str) -> None:
        self.google.update_event(self.email, event_id, {"summary": subject})

    def person_moves(self, event_id: str, start: datetime, end: datetime) -> None:
        self.google.move_event(self.email, event_id, start.isoformat(), end.isoformat())

    def person_deletes(self, event_id: str) -> None:
        self.google.delete_event(self.email, event_id)

    def invalidate_cursors(self) -> None:
        self.google.invalidate_sync_tokens(self.email)

    def live_ids(self) -> set[str]:
        events = self.google.events(self.email)
        return {str(e["id"]) for e in events if e.get("status") != "cancelled"}

    def subscription_ids(self) -> set[str]:
        return {str(c["id"]) for c in self.google.channels()}

    def now(self) -> datetime:
        # The adapter sends a relative ttl, so our clock is the one that counts.
        return datetime.now(UTC)

    def throttling(self, retry_after: int) -> AbstractContextManager[None]:
        return _fault_rule(
            self.org.sim,
            area="google",
            tenant=self.org.domain,
            throttle_probability=1.0,
            retry_after_seconds=retry_after,
        )


IMPLEMENTATIONS = [
    "memory-graph",
    "memory-google",
    "memory-remembering",
    pytest.param("graph", marks=pytest.mark.simulator),
    pytest.param("google", marks=pytest.mark.simulator),
]


@pytest.fixture(name="harness", params=IMPLEMENTATIONS)
def harness_fixture(request: pytest.FixtureRequest) -> Iterator[Harness]:
    kind: str = request.param
    if kind.startswith("memory-"):
        yield MemoryHarness(kind.removeprefix("memory-"))  # type: ignore[arg-type]
        return
    simulator = request.getfixturevalue("simulator")
    if kind == "graph":
        yield GraphHarness(request.getfixturevalue("org"))
        return
    for org in google_support.make_org(simulator):
        harness = GoogleHarness(org)
        try:
            yield harness
        finally:
            harness.close()


@pytest.fixture(name="client")
def client_fixture(harness: Harness) -> Iterator[CalendarClient]:
    client = harness.client()
    try:
        yield client
    finally:
        client.close()


class _Receiver(BaseHTTPRequestHandler):
    """Our webhook stand-in: echoes Graph's validationToken, accepts everything else."""

    def do_POST(self) -> None:
        token = parse_qs(urlparse(self.path).query).get("validationToken")
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = token[0].encode() if token else b""
        self.send_response(200 if token else 202)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def drain(
    client: CalendarClient, cursor: str | None, page_size: int = 100
) -> tuple[list[Change], str, list[int]]:
    """Every page of one round: the changes, the next round's cursor, each page's size."""
    found: list[Change] = []
    sizes: list[int] = []
    while True:
        page = client.changes(cursor, *WINDOW, page_size=page_size)
        found += page.changes
        sizes.append(len(page.changes))
        cursor = page.cursor
        if page.complete:
            return found, page.cursor, sizes


# --- reads -------------------------------------------------------------------------------------


def test_profile_names_the_calendars_owner(harness: Harness, client: CalendarClient) -> None:
    profile = client.profile()
    assert (profile.account, profile.display_name) == (harness.email, harness.display_name)
    assert profile.user_id


def test_closing_a_client_twice_is_fine(harness: Harness) -> None:
    client = harness.client()
    client.profile()
    client.close()
    client.close()


def test_the_agenda_lists_the_window_in_start_order_up_to_the_limit(
    harness: Harness, client: CalendarClient
) -> None:
    late = harness.person_creates("Late", at(15), at(16))
    early = harness.person_creates("Early", at(8), at(9))
    harness.person_creates("Next month", at(24 * 30), at(24 * 30 + 1))
    ours = client.create_event(draft(hour=11))
    agenda = client.events_between(at(0), at(23))
    assert [e.id for e in agenda] == [early, ours.id, late]
    first, mine = agenda[0], agenda[1]
    assert (first.subject, first.start, first.end, first.app_ref) == ("Early", at(8), at(9), None)
    assert (mine.subject, mine.start, mine.end) == ("Desk booking", at(11), at(12))
    assert mine.app_ref == "contoso|shift-1"
    assert mine.change_key == ours.change_key
    assert [e.id for e in client.events_between(at(0), at(23), limit=1)] == [early]


# --- writes ------------------------------------------------------------------------------------


def test_creating_twice_with_the_same_key_makes_one_event(
    harness: Harness, client: CalendarClient
) -> None:
    same = draft()
    first = client.create_event(same)
    again = client.create_event(same)
    assert (again.id, again.change_key) == (first.id, first.change_key)
    assert harness.live_ids() == {first.id}
    view = client.get_event(first.id)
    assert view is not None
    assert (view.subject, view.start, view.end, view.app_ref) == (
        "Desk booking",
        at(9),
        at(10),
        "contoso|shift-1",
    )


def test_every_write_changes_the_change_key_and_a_stale_one_is_refused(
    harness: Harness, client: CalendarClient
) -> None:
    written = client.create_event(draft())
    moved = client.update_event(written.id, draft(hour=11), if_match=written.change_key)
    assert moved.id == written.id and moved.change_key != written.change_key
    with pytest.raises(PreconditionFailed):
        client.update_event(written.id, draft(hour=13), if_match=written.change_key)
    view = client.get_event(written.id)
    assert view is not None and (view.start, view.change_key) == (at(11), moved.change_key)
    # The person renames it in their calendar: our last change key is stale now.
    harness.person_renames(written.id, "Renamed by the person")
    edited = client.get_event(written.id)
    assert edited is not None and edited.change_key not in ("", moved.change_key)
    with pytest.raises(PreconditionFailed):
        client.update_event(written.id, draft(hour=13), if_match=moved.change_key)
    again = client.update_event(written.id, draft(hour=13), if_match=edited.change_key)
    unguarded = client.update_event(written.id, draft(hour=14))
    assert len({again.change_key, unguarded.change_key, edited.change_key}) == 3
    final = client.get_event(written.id)
    assert final is not None and (final.subject, final.start) == ("Desk booking", at(14))


def test_updating_an_event_that_is_gone_is_not_found(
    harness: Harness, client: CalendarClient
) -> None:
    ours = client.create_event(draft())
    client.delete_event(ours.id)
    with pytest.raises(ProviderNotFound):
        client.update_event(ours.id, draft())
    theirs = client.create_event(draft())
    harness.person_deletes(theirs.id)
    with pytest.raises(ProviderNotFound):
        client.update_event(theirs.id, draft())
    # With the change key we last wrote, Graph answers 404 while Google, which keeps deleted
    # events with a new etag, answers 412: either way the update is refused and a re-read
    # (get_event -> None) tells the caller the event is gone.
    with pytest.raises((ProviderNotFound, PreconditionFailed)):
        client.update_event(theirs.id, draft(), if_match=theirs.change_key)
    assert client.get_event(theirs.id) is None
    assert harness.live_ids() == set()


def test_deleting_twice_is_done_and_the_event_is_gone(
    harness: Harness, client: CalendarClient
) -> None:
    written = client.create_event(draft())
    client.delete_event(written.id)
    client.delete_event(written.id)
    assert client.get_event(written.id) is None
    assert harness.live_ids() == set()
    assert client.events_between(at(0), at(23)) == []


def test_a_key_used_again_after_a_deletion_never_makes_a_second_event(
    harness: Harness, client: CalendarClient
) -> None:
    # What a repeated key answers once its event was deleted differs: the simulated Graph makes
    # a new event, Google restores the reserved id, and the memory twin's "remembering" mode
    # answers the deleted event (what transactionId might do). All agree on at most one live
    # event, the one answered, which is why the push engine re-creates with a fresh key.
    same = draft()
    first = client.create_event(same)
    client.delete_event(first.id)
    again = client.create_event(same)
    assert harness.live_ids() <= {again.id}
    fresh = client.create_event(draft(hour=12))
    assert harness.live_ids() - {again.id} == {fresh.id}


# --- changes -----------------------------------------------------------------------------------


def test_a_full_listing_pages_then_rounds_report_moves_renames_and_removals(
    harness: Harness, client: CalendarClient
) -> None:
    outside = [harness.person_creates(f"Outlook {i}", at(8 + i), at(9 + i)) for i in range(4)]
    harness.person_creates("Far away", at(24 * 60), at(24 * 60 + 1))
    ours = client.create_event(draft(hour=13))
    listed, cursor, sizes = drain(client, None, page_size=2)
    assert sizes == [2, 2, 1]
    # Google may list events deleted earlier as removed; nothing was deleted here.
    assert sorted(c.id for c in listed) == sorted([*outside, ours.id])
    assert {c.id: c.app_ref for c in listed}[ours.id] == "contoso|shift-1"
    quiet, cursor, _ = drain(client, cursor)
    assert quiet == []
    harness.person_moves(outside[0], at(17), at(18))
    harness.person_deletes(outside[1])
    harness.person_renames(outside[2], "Renamed")
    client.update_event(ours.id, draft(hour=14))
    changed, cursor, _ = drain(client, cursor, page_size=10)
    by_id = {c.id: c for c in changed}
    assert set(by_id) == {outside[0], outside[1], outside[2], ours.id}
    assert (by_id[outside[0]].start, by_id[outside[0]].end) == (at(17), at(18))
    assert by_id[outside[0]].app_ref is None and not by_id[outside[0]].removed
    assert by_id[outside[1]].removed
    assert (by_id[ours.id].start, by_id[ours.id].app_ref) == (at(14), "contoso|shift-1")
    assert drain(client, cursor)[0] == []


def test_an_invalidated_cursor_expires_and_a_new_listing_starts_over(
    harness: Harness, client: CalendarClient
) -> None:
    first = harness.person_creates("Standup", at(9), at(10))
    _, cursor, _ = drain(client, None)
    harness.invalidate_cursors()
    with pytest.raises(CursorExpired):
        client.changes(cursor, *WINDOW)
    listed, _, _ = drain(client, None)
    assert [c.id for c in listed] == [first]


# --- subscriptions, rooms, faults --------------------------------------------------------------


def test_a_subscription_is_created_renewed_and_removed(
    harness: Harness, client: CalendarClient, receiver: str
) -> None:
    now = harness.now()
    sub = client.subscribe(
        notification_url=receiver + "/notify",
        lifecycle_url=receiver + "/lifecycle",
        client_state="secret-state",
        expires_at=now + timedelta(days=1),
    )
    assert sub.id in harness.subscription_ids()
    assert sub.expires_at > now + timedelta(hours=23)
    # Graph extends the subscription in place; Google opens a new channel and stops the old.
    renewed = client.renew(sub, now + timedelta(days=2))
    assert renewed.expires_at > sub.expires_at + timedelta(hours=23)
    assert renewed.id in harness.subscription_ids()
    client.unsubscribe(renewed)
    client.unsubscribe(renewed)
    assert {sub.id, renewed.id} & harness.subscription_ids() == set()


def test_rooms_are_listed_for_a_client_entitled_to_them(harness: Harness) -> None:
    rooms_client = harness.rooms_client()
    try:
        assert {r.email for r in rooms_client.rooms()} == harness.rooms
    finally:
        rooms_client.close()


def test_a_person_without_the_permission_is_refused_rooms(client: CalendarClient) -> None:
    with pytest.raises(ProviderDenied):
        client.rooms()


def test_a_throttling_provider_raises_throttled_with_its_retry_after(
    harness: Harness, client: CalendarClient
) -> None:
    client.profile()  # a token in hand before the provider starts refusing
    with harness.throttling(30), pytest.raises(Throttled) as caught:
        client.create_event(draft())
    assert caught.value.retry_after == 30
    assert harness.live_ids() == set()
