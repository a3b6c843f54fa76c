"""Helpers for the convergence scenarios: the fault mix, people acting in their calendars,
reading calendars back from the simulator, the feed and availability, and settling the system.

The fault mix and the seed of the scripted run live here, in one place::

    FAULT_MIX  # knobs of simulator.faults.FaultRule applied per tenant/domain
    SEED       # random.Random(SEED) drives every choice of the script
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.storage.queue import QueueClient
from pydantic import SecretStr

from shared.storage.keys import encode_key, join_key
from shared.sync.appevents import AppEvents
from shared.sync.context import SYNC_QUEUE
from shared.sync.cursors import CursorStore
from shared.sync.mappings import EventRefs, PushQueue, RefState
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import ADMIN, HOST_APP, SERVICE

ROOT = Path(__file__).resolve().parents[2]
SEED = 20240605
# About 20% of the provider requests of the test's tenant and domain fail: 429 with a short
# Retry-After (so the run does not wait long), 503, and connections reset with no answer.
FAULT_MIX: dict[str, Any] = {
    "throttle_probability": 0.08,
    "retry_after_seconds": 1,
    "unavailable_probability": 0.06,
    "reset_probability": 0.06,
}
FAULT_KINDS = ("429", "503", "reset")


@dataclass(frozen=True)
class Person:
    """A host-app person with a connected calendar."""

    org: str
    integration: str
    id: str
    email: str
    provider: str  # microsoft or google

    @property
    def calendar(self) -> str:
        """The calendar key (``CalendarRef.key``)."""
        return f"{self.integration}:{encode_key(self.id)}"


@dataclass(frozen=True)
class CalendarEvent:
    """A live event as the person sees it in their calendar (read from the simulator)."""

    id: str
    subject: str
    start: datetime
    end: datetime
    app_ref: str | None  # our marker (an extended property), None for other events


# --- the calendars as the people see them --------------------------------------------------


def _graph_time(value: dict[str, Any]) -> datetime:
    assert value.get("timeZone", "UTC") == "UTC", value
    return datetime.fromisoformat(value["dateTime"][:19]).replace(tzinfo=UTC)


def _graph_ref(raw: dict[str, Any]) -> str | None:
    for prop in raw.get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).endswith("Name calendarIntegrationRef"):
            return str(prop.get("value"))
    return None


def calendar_events(stack: Stack, person: Person) -> list[CalendarEvent]:
    """Every live event of the person's calendar, read from the simulator."""
    if person.provider == "microsoft":
        return [
            CalendarEvent(
                e["id"],
                e.get("subject", ""),
                _graph_time(e["start"]),
                _graph_time(e["end"]),
                _graph_ref(e),
            )
            for e in stack.sim.graph.events(person.email)
        ]
    found = []
    for e in stack.sim.google.events(person.email):
        if e.get("status") == "cancelled":
            continue
        private = (e.get("extendedProperties") or {}).get("private") or {}
        found.append(
            CalendarEvent(
                e["id"],
                e.get("summary", ""),
                datetime.fromisoformat(e["start"]["dateTime"]).astimezone(UTC),
                datetime.fromisoformat(e["end"]["dateTime"]).astimezone(UTC),
                private.get("calendarIntegrationRef"),
            )
        )
    return found


def app_ref(org: str, app_event: str) -> str:
    """The marker the push path writes on our events (``EventDraft.app_ref``)."""
    return join_key(org, app_event)


# --- a person acting in Outlook or Google Calendar ---------------------------------------------


def create_foreign(
    stack: Stack, person: Person, subject: str, start: datetime, end: datetime
) -> str:
    """The person creates an event of their own (with notes); returns its provider id."""
    if person.provider == "microsoft":
        body = {
            "subject": subject,
            "body": {"contentType": "text", "content": subject + " (notes)"},
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "showAs": "busy",
        }
        return str(stack.sim.graph.create_event(person.email, body)["id"])
    created = stack.sim.google.create_event(
        person.email,
        {
            "summary": subject,
            "description": subject + " (notes)",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": end.isoformat()},
        },
    )
    return str(created["id"])


def move(stack: Stack, person: Person, event_id: str, start: datetime, end: datetime) -> None:
    """The person moves an event in their calendar."""
    if person.provider == "microsoft":
        stack.sim.graph.move_event(person.email, event_id, start, end)
    else:
        stack.sim.google.move_event(person.email, event_id, start.isoformat(), end.isoformat())


def delete(stack: Stack, person: Person, event_id: str) -> None:
    """The person deletes an event in their calendar."""
    if person.provider == "microsoft":
        stack.sim.graph.delete_event(person.email, event_id)
    else:
        stack.sim.google.delete_event(person.email, event_id)


# --- the service's view, through its HTTP contract --------------------------------------------


def feed(stack: Stack, org: str) -> list[dict[str, Any]]:
    """The whole notification feed of ``org``, oldest first, following ``next_after``."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"after": after} if after else {}
        answer = stack.call(
            "GET", f"orgs/{org}/notifications", org=org, sub=HOST_APP, roles=SERVICE, params=params
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        if not page["items"]:
            return items
        after = page["next_after"]


def availability(
    stack: Stack, org: str, people: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, datetime, str]]]:
    """``GET /availability``: per person, sorted ``(start, end, source)`` of every busy item."""
    answer = stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={"people": ",".join(people), "start": start.isoformat(), "end": end.isoformat()},
    )
    assert answer.status_code == 200, answer.text
    return {
        p["person"]: sorted(
            (datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"]), b["source"])
            for b in p["busy"]
        )
        for p in answer.json()["people"]
    }


def sync_integration(stack: Stack, org: str, integration: str) -> None:
    """The admin's on-demand sync (queued; does not wait)."""
    response = stack.call(
        "POST", f"orgs/{org}/integrations/{integration}/sync", org=org, sub="ada", roles=ADMIN
    )
    assert response.status_code == 202, response.text


def settled(stack: Stack, person: Person, app_event: str) -> str | None:
    """The provider id of our event in ``person``'s calendar when the host app's latest
    version of ``app_event`` has been written there (no push for it is pending), else None.

    Only then is a change the person makes *after* the host app's last change: a pending push
    would still apply the host app's version over it (docs/sync-design.md, push rules)."""
    tables = stack.services.tables
    event = AppEvents(tables).get(person.org, app_event)
    ref = EventRefs(tables).get(person.org, app_event, person.id)
    if event is None or ref is None or not event.wants(person.id):
        return None
    if ref.state is not RefState.ACTIVE or ref.calendar != person.calendar:
        return None
    return ref.provider_event_id if ref.pushed_version >= event.version else None


def mapping_state(stack: Stack, person: Person, app_event: str) -> str:
    """The host-app version, the mapping row, the push marker and the calendar's cursor, for
    an assertion message."""
    tables = stack.services.tables
    event = AppEvents(tables).get(person.org, app_event)
    version = "none" if event is None else f"v{event.version}"
    ref = EventRefs(tables).get(person.org, app_event, person.id)
    row = (
        "none"
        if ref is None
        else f"{ref.state} v{ref.pushed_version} g{ref.generation} {ref.provider_event_id} "
        f"error={ref.last_error or '-'}"
    )
    marker = PushQueue(tables).get(person.calendar, person.org, app_event)
    pending = (
        "none" if marker is None else f"v{marker.version} creating={bool(marker.creating_key)}"
    )
    cursor = CursorStore(tables).get(person.calendar)
    pull = "none" if cursor is None else f"complete={cursor.complete} error={cursor.last_error}"
    return (
        f"{app_event}/{person.email}: host app {version}; row {row}; marker {pending}; pull {pull}"
    )


def deletion_seen(stack: Stack, person: Person, app_event: str, provider_event_id: str) -> bool:
    """Whether the service saw that the person deleted our event ``provider_event_id``: the
    mapping no longer holds it as live (docs/sync-design.md: the row turns ``gone``)."""
    ref = EventRefs(stack.services.tables).get(person.org, app_event, person.id)
    return ref is None or not ref.live or ref.provider_event_id != provider_event_id


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    nudge: Callable[[], None],
    describe: Callable[[], str] = lambda: "",
) -> None:
    """Poll ``predicate``; call ``nudge`` (e.g. an on-demand sync) at once, then after 2, 4,
    8, ... s (every nudge queues a sync per calendar: nudging faster than the workers run
    only piles up messages that meet each other's lease). ``describe`` says what was still
    missing when the time ran out."""
    began = time.monotonic()
    next_nudge, interval = began, 2.0
    while not predicate():
        now = time.monotonic()
        assert now < began + timeout, f"condition not reached in {timeout} s: {describe()}"
        if now >= next_nudge:
            nudge()
            next_nudge, interval = now + interval, min(interval * 2, 16)
        time.sleep(0.05)


def drop_sync_retries(stack: Stack) -> None:
    """Empty the sync queue of retries still waiting out a backoff, until the local host is idle.

    A retry message says only "sync this calendar" (the work itself is kept in tables: push
    markers, cursors), and under a long run of faults its delay grows to minutes
    (``shared.sync.worker``: exponential backoff up to 300 s, 120 s after meeting a lease). The
    caller replaces them with the operator's on-demand sync, which does the same work now.
    A worker still running when the queue is emptied may send one more; hence the loop.
    """
    queue = QueueClient.from_connection_string(stack.azurite.connection_string, SYNC_QUEUE)
    try:
        for _ in range(5):
            queue.clear_messages()
            try:
                stack.host.wait_until_idle(timeout=10)
                return
            except TimeoutError:
                continue
        raise AssertionError("sync retries kept coming after the faults stopped")
    finally:
        queue.close()


def fault_counts(stack: Stack) -> dict[str, int]:
    """Faults the simulator injected, by kind, over every area."""
    counts = dict.fromkeys(FAULT_KINDS, 0)
    for area in stack.sim.stats()["areas"].values():
        for status, n in area["by_status"].items():
            if status in counts:
                counts[status] += n
    return counts


def day_start(days: int = 1) -> datetime:
    """Midnight UTC ``days`` from today."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days)


# --- a sync worker in its own process, to be killed --------------------------------------------

# The child runs the real worker entry point with the stack's settings and a clock standing at
# the stack's time. It imports only the service's package, never the test harness.
_WORKER = """
import json, sys
from datetime import datetime
from shared.clock import ManualClock
from shared.http.flows import sync_context
from shared.services import Services
from shared.settings import Settings
from shared.sync.worker import SyncMessage, sync_calendar

job = json.load(sys.stdin)
clock = ManualClock(datetime.fromisoformat(job["now"]))
services = Services(Settings(**job["settings"]), clock=clock)
message = SyncMessage(job["org"], job["calendar"])
outcome = sync_calendar(sync_context(services), message, holder=job["holder"])
print(json.dumps({"status": outcome.status}), flush=True)
"""

# Nothing listens on the discard port: a subscription the child tries to create fails its
# validation, so the child opens no change notifications that would wake the local host.
UNREACHABLE_BASE_URL = "http://127.0.0.1:9"


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def spawn_worker(stack: Stack, org: str, calendar: str, holder: str) -> subprocess.Popen[bytes]:
    """Start ``shared.sync.worker.sync_calendar`` for ``calendar`` in a child process as
    ``holder`` (the caller takes the lease for ``holder`` first, so no other worker can start
    the calendar meanwhile)."""
    settings = {name: _plain(value) for name, value in stack.settings}
    settings["public_base_url"] = UNREACHABLE_BASE_URL
    job = {
        "settings": settings,
        "now": stack.clock.now().isoformat(),
        "org": org,
        "calendar": calendar,
        "holder": holder,
    }
    child = subprocess.Popen(
        [sys.executable, "-c", _WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert child.stdin is not None
    child.stdin.write(json.dumps(job).encode())
    child.stdin.close()
    return child


def kill_when(child: subprocess.Popen[bytes], reached: Callable[[], bool], timeout: float) -> None:
    """SIGKILL ``child`` as soon as ``reached()`` holds (polled every 10 ms); fails if the
    child ended on its own first, since then nothing was killed mid-way."""
    deadline = time.monotonic() + timeout
    try:
        while not reached():
            assert child.poll() is None, "the worker finished before it could be killed"
            assert time.monotonic() < deadline, "the worker never reached the point"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL, child.returncode
