"""The Graph calendar client against the simulated Microsoft Graph: reads, idempotent writes,
If-Match, delta paging and expiry, subscriptions with a real webhook receiver, rooms with an
app-only token, throttling and transient faults, and the per-mailbox concurrency cap."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from shared.errors import (
    CursorExpired,
    PreconditionFailed,
    ProviderDenied,
    ProviderNotFound,
    ProviderUnavailable,
    Throttled,
)
from shared.providers.base import Attendee, EventDraft, TokenSource
from shared.providers.microsoft.calendar import GraphCalendarClient
from shared.settings import outbound_ssl_context
from simulator.faults import fault_state
from tests.providers.microsoft_support import (  # noqa: F401 (fixtures)
    Org,
    org_fixture,
    sim_fixture,
)

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return DAY + timedelta(days=day, hours=hour, minutes=minute)


def dtz(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).replace(tzinfo=None).isoformat(), "timeZone": "UTC"}


@dataclass
class Mailbox:
    org: Org
    client: GraphCalendarClient
    email: str
    client_tokens: TokenSource

    def outlook_event(self, subject: str, start: datetime, end: datetime, **more: Any) -> str:
        """The person creates an event in Outlook (not through our client)."""
        body = {"subject": subject, "start": dtz(start), "end": dtz(end), **more}
        return str(self.org.sim.graph.create_event(self.email, body)["id"])

    def events(self) -> list[dict[str, Any]]:
        return list(self.org.sim.graph.events(self.email))


@pytest.fixture(name="mailbox")
def mailbox_fixture(org: Org) -> Mailbox:
    source = org.auth().token_source(org.connect())
    return Mailbox(org, GraphCalendarClient(org.settings, source), org.user["mail"], source)


def draft(key: str = "", **changes: Any) -> EventDraft:
    values: dict[str, Any] = {
        "key": key or "k-" + uuid.uuid4().hex,
        "app_ref": "booking-42",
        "subject": "Desk booking",
        "start": at(9),
        "end": at(10),
        "body": "Booked through the host app",
    }
    values.update(changes)
    return EventDraft(**values)


# --- reads -------------------------------------------------------------------------------------


def test_profile_and_live_agenda_in_start_order(mailbox: Mailbox) -> None:
    profile = mailbox.client.profile()
    assert profile.user_id == mailbox.org.user["id"]
    assert profile.account == mailbox.email
    assert profile.display_name == "Bob Builder"
    late = mailbox.outlook_event("Late", at(15), at(16))
    early = mailbox.outlook_event(
        "Early",
        at(8),
        at(9),
        showAs="tentative",
        attendees=[{"emailAddress": {"address": mailbox.org.admin["mail"]}, "type": "optional"}],
    )
    mailbox.outlook_event("Tomorrow", at(8, day=1), at(9, day=1))
    agenda = mailbox.client.events_between(at(0), at(23))
    assert [e.id for e in agenda] == [early, late]
    first = agenda[0]
    assert (first.subject, first.start, first.end, first.show_as) == (
        "Early",
        at(8),
        at(9),
        "tentative",
    )
    assert first.attendees[0].email == mailbox.org.admin["mail"]
    assert first.attendees[0].kind == "optional"
    assert first.organizer == mailbox.email
    assert first.app_ref is None
    assert mailbox.client.events_between(at(0), at(23, day=1), limit=1)[0].id == early


# --- writes ------------------------------------------------------------------------------------


def test_create_twice_with_the_same_key_makes_one_event(mailbox: Mailbox) -> None:
    same = draft()
    first = mailbox.client.create_event(same)
    again = mailbox.client.create_event(same)
    assert again.id == first.id
    assert [e["id"] for e in mailbox.events()] == [first.id]
    stored = mailbox.events()[0]
    assert stored["transactionId"] == same.key
    view = mailbox.client.get_event(first.id)
    assert view is not None
    assert view.app_ref == "booking-42"
    assert (view.subject, view.start, view.end) == ("Desk booking", at(9), at(10))
    assert view.change_key == first.change_key


def test_room_is_booked_as_resource_attendee_and_location(mailbox: Mailbox) -> None:
    room = mailbox.org.sim.create_room(mailbox.org.tenant["id"], "room-a", display_name="Room A")
    written = mailbox.client.create_event(
        draft(attendees=(Attendee(email=room["mail"], name="Room A", kind="resource"),))
    )
    stored = next(e for e in mailbox.events() if e["id"] == written.id)
    assert stored["attendees"][0]["type"] == "resource"
    assert stored["location"]["locationEmailAddress"] == room["mail"]
    assert stored["location"]["displayName"] == "Room A"


def test_update_with_a_stale_change_key_is_a_precondition_failure(mailbox: Mailbox) -> None:
    written = mailbox.client.create_event(draft())
    moved = mailbox.client.update_event(
        written.id, draft(start=at(11), end=at(12)), if_match=written.change_key
    )
    assert moved.change_key != written.change_key
    with pytest.raises(PreconditionFailed) as caught:
        mailbox.client.update_event(written.id, draft(subject="Again"), if_match=written.change_key)
    assert caught.value.provider_code == "ErrorIrresolvableConflict"
    view = mailbox.client.get_event(written.id)
    assert view is not None
    assert (view.start, view.subject) == (at(11), "Desk booking")


def test_update_of_a_deleted_event_is_not_found(mailbox: Mailbox) -> None:
    written = mailbox.client.create_event(draft())
    mailbox.client.delete_event(written.id)
    with pytest.raises(ProviderNotFound):
        mailbox.client.update_event(written.id, draft())


def test_delete_twice_is_fine_and_the_event_is_gone(mailbox: Mailbox) -> None:
    written = mailbox.client.create_event(draft())
    mailbox.client.delete_event(written.id)
    mailbox.client.delete_event(written.id)
    assert mailbox.client.get_event(written.id) is None
    assert mailbox.events() == []


# --- changes -----------------------------------------------------------------------------------


def test_full_sync_in_pages_then_incremental_changes_and_removals(mailbox: Mailbox) -> None:
    client = mailbox.client
    outside = [mailbox.outlook_event(f"Outlook {i}", at(8 + i), at(9 + i)) for i in range(4)]
    ours = client.create_event(draft(start=at(13), end=at(14)))
    window = (at(0), at(0, day=7))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = client.changes(cursor, *window, page_size=2)
        pages += 1
        seen += [c.id for c in page.changes]
        cursor = page.cursor
        if page.complete:
            break
        assert len(page.changes) == 2
    assert pages == 3
    assert sorted(seen) == sorted([*outside, ours.id])
    # Nothing changed: an empty round with a new delta link.
    quiet = client.changes(cursor, *window, page_size=2)
    assert quiet.complete
    assert quiet.changes == []
    # The person moves one event, deletes another, and declines nothing.
    mailbox.org.sim.graph.move_event(mailbox.email, outside[0], at(17), at(18))
    mailbox.org.sim.graph.delete_event(mailbox.email, outside[1])
    client.update_event(ours.id, draft(start=at(14), end=at(15)))
    page = client.changes(quiet.cursor, *window, page_size=10)
    assert page.complete
    by_id = {c.id: c for c in page.changes}
    assert set(by_id) == {outside[0], outside[1], ours.id}
    assert (by_id[outside[0]].start, by_id[outside[0]].end) == (at(17), at(18))
    assert by_id[outside[0]].app_ref is None
    assert by_id[outside[1]].removed
    assert by_id[ours.id].app_ref == "booking-42"
    assert by_id[ours.id].start == at(14)


def test_delta_reports_attendee_answers(mailbox: Mailbox) -> None:
    admin = mailbox.org.admin["mail"]
    written = mailbox.client.create_event(
        draft(attendees=(Attendee(email=admin, name="Ada Admin"),))
    )
    window = (at(0), at(0, day=7))
    page = mailbox.client.changes(None, *window)
    while not page.complete:
        page = mailbox.client.changes(page.cursor, *window)
    copy_id = next(
        e["id"] for e in mailbox.org.sim.graph.events(admin) if e["subject"] == "Desk booking"
    )
    mailbox.org.sim.graph.decline(admin, copy_id)
    deadline = time.monotonic() + 5
    while True:
        later = mailbox.client.changes(page.cursor, *window)
        mine = [c for c in later.changes if c.id == written.id]
        if mine and mine[0].attendees and mine[0].attendees[0].response == "declined":
            break
        assert time.monotonic() < deadline, later
        time.sleep(0.1)
    assert mine[0].attendees[0].email == admin


def test_event_with_a_foreign_transaction_id_is_looked_up_and_not_ours(mailbox: Mailbox) -> None:
    # Another app's event with a transactionId: delta gives no extended properties, so the
    # client reads the event with $expand and finds no marker of ours.
    other = mailbox.outlook_event("Other app", at(10), at(11), transactionId="their-key")
    page = mailbox.client.changes(None, at(0), at(0, day=7))
    assert [(c.id, c.app_ref) for c in page.changes] == [(other, None)]


def test_an_invalidated_delta_link_means_full_resync(mailbox: Mailbox) -> None:
    mailbox.outlook_event("Standup", at(9), at(10))
    page = mailbox.client.changes(None, at(0), at(0, day=7))
    assert page.complete
    assert mailbox.org.sim.graph.invalidate_delta(mailbox.email) >= 1
    with pytest.raises(CursorExpired) as caught:
        mailbox.client.changes(page.cursor, at(0), at(0, day=7))
    assert caught.value.provider_code == "SyncStateNotFound"


def test_a_link_to_another_host_is_refused_without_sending_the_token(mailbox: Mailbox) -> None:
    with pytest.raises(Exception, match="outside the configured Graph URL"):
        mailbox.client.changes("https://attacker.example/graph/v1.0/x", at(0), at(1))


# --- subscriptions -----------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    posts: list[str] = []

    def do_POST(self) -> None:
        token = parse_qs(urlparse(self.path).query).get("validationToken")
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.posts.append(self.path)
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


def test_subscription_create_renew_and_remove(mailbox: Mailbox, receiver: str) -> None:
    # The simulated clock (which other tests may have advanced) is Graph's "now".
    now = datetime.fromisoformat(mailbox.org.sim.clock()["now"])
    sub = mailbox.client.subscribe(
        notification_url=receiver + "/notify",
        lifecycle_url=receiver + "/lifecycle",
        client_state="secret-state",
        expires_at=now + timedelta(days=1),
    )
    assert sub.resource == "me/events"
    assert abs((sub.expires_at - (now + timedelta(days=1))).total_seconds()) < 2
    listed = {s["id"]: s for s in mailbox.org.sim.graph.subscriptions()}
    assert listed[sub.id]["clientState"] == "secret-state"
    assert listed[sub.id]["changeType"] == "created,updated,deleted"
    assert listed[sub.id]["mailboxId"] == mailbox.org.user["id"]
    validations = mailbox.org.sim.graph.deliveries(sub.id, "validation")
    assert {d["outcome"] for d in validations} == {"delivered"}
    renewed = mailbox.client.renew(sub, now + timedelta(days=2))
    assert renewed.id == sub.id
    assert renewed.expires_at > sub.expires_at
    mailbox.client.unsubscribe(sub)
    mailbox.client.unsubscribe(sub)
    assert sub.id not in {s["id"] for s in mailbox.org.sim.graph.subscriptions()}
    with pytest.raises(ProviderNotFound):
        mailbox.client.renew(sub, now + timedelta(days=2))


# --- rooms -------------------------------------------------------------------------------------


def test_rooms_with_an_app_only_token(org: Org) -> None:
    tenant = org.tenant["id"]
    org.sim.create_room(tenant, "atlas", display_name="Atlas", capacity=8, building="North")
    org.sim.create_room(tenant, "boreas", display_name="Boreas", capacity=4)
    org.sim.grant_consent(tenant, org.app["client_id"], app_roles=["Place.Read.All"])
    app_auth = org.auth().app_auth(tenant)
    rooms = GraphCalendarClient(org.settings, app_auth.token_source(), user="rooms").rooms()
    by_name = {r.name: r for r in rooms}
    assert set(by_name) == {"Atlas", "Boreas"}
    assert by_name["Atlas"].capacity == 8
    assert by_name["Atlas"].building == "North"
    assert by_name["Atlas"].email.startswith("atlas@")


def test_rooms_without_place_read_all_is_denied(mailbox: Mailbox) -> None:
    with pytest.raises(ProviderDenied) as caught:
        mailbox.client.rooms()
    assert caught.value.provider_code == "ErrorAccessDenied"


def test_app_only_client_reads_and_writes_a_named_mailbox(org: Org) -> None:
    tenant = org.tenant["id"]
    org.sim.grant_consent(tenant, org.app["client_id"], app_roles=["Calendars.ReadWrite"])
    source = org.auth().app_auth(tenant).token_source()
    client = GraphCalendarClient(org.settings, source, user=org.user["mail"])
    written = client.create_event(draft())
    assert [e["id"] for e in org.sim.graph.events(org.user["mail"])] == [written.id]
    assert client.changes(None, at(0), at(0, day=1)).changes[0].app_ref == "booking-42"


# --- faults ------------------------------------------------------------------------------------


def test_long_retry_after_raises_throttled_at_once(mailbox: Mailbox) -> None:
    mailbox.client.profile()  # token in the cache before the fault
    mailbox.org.sim.add_fault_rule(
        area="graph",
        tenant=mailbox.org.tenant["id"],
        throttle_probability=1.0,
        retry_after_seconds=30,
    )
    slept: list[float] = []
    client = GraphCalendarClient(mailbox.org.settings, mailbox.client_tokens, sleep=slept.append)
    try:
        with pytest.raises(Throttled) as caught:
            client.events_between(at(0), at(23))
    finally:
        mailbox.org.sim.clear_faults()
    assert caught.value.retry_after == 30
    assert caught.value.provider_code == "TooManyRequests"
    assert slept == []  # a long Retry-After is the queue's job, never a sleep in the call


def _graph_503s(org: Org) -> int:
    return int(org.sim.stats()["areas"].get("graph", {}).get("by_status", {}).get("503", 0))


def test_one_503_is_retried_transparently(mailbox: Mailbox, simulator: Any) -> None:
    mailbox.client.profile()
    state = fault_state(simulator.world)
    # The simulator draws its faults from a seeded generator: find the next two requests where
    # the first draw fails and the second passes for one probability, burning a request if not.
    for _ in range(20):
        rng = copy.deepcopy(state.rng)
        first, second = [rng.random() for _ in range(5)], [rng.random() for _ in range(5)]
        if first[3] < second[3]:
            break
        mailbox.client.profile()
    else:
        pytest.fail("no usable pair of fault draws")
    before = _graph_503s(mailbox.org)
    mailbox.org.sim.add_fault_rule(
        area="graph",
        tenant=mailbox.org.tenant["id"],
        unavailable_probability=second[3],
        retry_after_seconds=0,
    )
    try:
        profile = mailbox.client.profile()
    finally:
        mailbox.org.sim.clear_faults()
    assert profile.user_id == mailbox.org.user["id"]
    assert _graph_503s(mailbox.org) == before + 1


class _CountingTransport(httpx.BaseTransport):
    """Counts requests in flight (each held 100 ms) on top of the real transport."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(0.1)
            response = self.inner.handle_request(request)
            response.read()
            return response
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self) -> None:
        self.inner.close()


def test_at_most_four_requests_per_mailbox_in_flight(org: Org) -> None:
    source = org.auth().token_source(org.connect())
    transport = _CountingTransport(httpx.HTTPTransport(verify=outbound_ssl_context(org.settings)))
    with httpx.Client(transport=transport, timeout=30) as http:
        client = GraphCalendarClient(org.settings, source, http=http, mailbox_key=org.user["id"])
        client.profile()
        errors: list[BaseException] = []

        def read() -> None:
            try:
                client.events_between(at(0), at(23))
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    assert transport.peak == 4


def test_short_retry_after_is_waited_twice_then_throttled(mailbox: Mailbox) -> None:
    mailbox.client.profile()
    before = _graph_503s(mailbox.org)
    mailbox.org.sim.add_fault_rule(
        area="graph",
        tenant=mailbox.org.tenant["id"],
        unavailable_probability=1.0,
        retry_after_seconds=0,
    )
    try:
        with pytest.raises(Throttled) as caught:
            mailbox.client.profile()
    finally:
        mailbox.org.sim.clear_faults()
    assert caught.value.retry_after == 0
    assert caught.value.provider_code == "ServiceUnavailable"
    assert _graph_503s(mailbox.org) == before + 3


def test_dropped_connections_are_retried_then_unavailable(mailbox: Mailbox) -> None:
    mailbox.client.profile()
    mailbox.org.sim.add_fault_rule(
        area="graph", tenant=mailbox.org.tenant["id"], reset_probability=1.0
    )
    slept: list[float] = []
    client = GraphCalendarClient(mailbox.org.settings, mailbox.client_tokens, sleep=slept.append)
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            client.profile()
    finally:
        mailbox.org.sim.clear_faults()
    resets = mailbox.org.sim.stats()["areas"]["graph"]["by_status"]["reset"]
    assert resets >= 3
    assert caught.value.provider_code in {"RemoteProtocolError", "ReadError", "ConnectError"}
    # Short backoff between attempts, with jitter, never more than the policy's cap.
    assert len(slept) == 2
    assert all(0 <= delay <= 1.0 for delay in slept)


class _ScriptedTokens:
    """A token source (our TokenSource interface) whose first token is not accepted."""

    def __init__(self, good: Any, *, always_bad: bool = False) -> None:
        self.good = good
        self.always_bad = always_bad
        self.calls: list[bool] = []

    def __call__(self, *, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        if self.always_bad or not force_refresh:
            return "not-a-jwt"
        return str(self.good(force_refresh=True))


def test_a_401_refreshes_the_token_once_and_resends(org: Org) -> None:
    tokens = _ScriptedTokens(org.auth().token_source(org.connect()))
    client = GraphCalendarClient(org.settings, tokens)
    assert client.profile().user_id == org.user["id"]
    assert tokens.calls == [False, True]


def test_a_second_401_is_denied(org: Org) -> None:
    tokens = _ScriptedTokens(None, always_bad=True)
    with pytest.raises(ProviderDenied) as caught:
        GraphCalendarClient(org.settings, tokens).profile()
    assert caught.value.provider_code == "InvalidAuthenticationToken"
    assert tokens.calls == [False, True]


def test_a_change_key_that_begins_like_an_etag_is_still_sent_as_a_change_key(
    mailbox: Mailbox, simulator: Any
) -> None:
    """Graph change keys are base64 (16 characters here), so about one in 4,096 begins with
    ``W/``. Taken for an ``@odata.etag`` and sent as is, it never matched: every update of that
    event answered 412 for good (the convergence run's update that never reached Outlook)."""
    from simulator.microsoft.graph.state import graph_state

    written = mailbox.client.create_event(draft())
    with simulator.world.lock:
        stored = graph_state(simulator.world).mailbox(mailbox.org.user["id"]).events[written.id]
        stored.data["changeKey"] = "W/" + stored.data["changeKey"][2:]
        change_key = stored.data["changeKey"]
    view = mailbox.client.get_event(written.id)
    assert view is not None and view.change_key == change_key

    moved = mailbox.client.update_event(
        written.id, draft(start=at(11), end=at(12)), if_match=view.change_key
    )
    assert moved.change_key != change_key
    # An @odata.etag is still accepted as it is.
    again = mailbox.client.update_event(
        written.id, draft(start=at(13), end=at(14)), if_match=f'W/"{moved.change_key}"'
    )
    assert again.change_key != moved.change_key
