"""Pulling a Google calendar through the real Google adapter against the simulator, with the
stores on Azurite: busy intervals only, moves and deletions, a sync token invalidated (410
``fullSyncRequired``) resyncs without duplicates, and a deletion of our own event in Google
reaches the host app's feed once while the echo of our own write does not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from devhost.azurite import Azurite
from shared.providers.base import EventDraft
from shared.providers.google.calendar import GoogleCalendarClient
from shared.sync.busy import BusyStore
from shared.sync.calendars import CalendarRef
from shared.sync.context import SyncContext
from shared.sync.pull import PullReport, pull_calendar
from tests.integration.test_pull_microsoft import (
    SECRET_BODY,
    SECRET_SUBJECT,
    at,
    feed,
    map_our_event,
    sync_context,
    table_text,
)
from tests.providers.google_support import Org, make_org


@dataclass
class Google:
    org: Org
    sctx: SyncContext
    ref: CalendarRef
    client: GoogleCalendarClient

    @property
    def email(self) -> str:
        return self.org.ann

    def event(self, summary: str, start: datetime, end: datetime, **more: Any) -> str:
        """The person creates an event in Google Calendar (not through the service)."""
        body = {
            "summary": summary,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": end.isoformat()},
            **more,
        }
        return str(self.org.google.create_event(self.email, body)["id"])

    def busy(self) -> dict[str, tuple[datetime, datetime, str]]:
        rows = BusyStore(self.sctx.consent.tables).all(self.ref.key)
        return {b.event_id: (b.start, b.end, b.show_as) for b in rows}

    def pull(self, **options: Any) -> PullReport:
        return pull_calendar(self.sctx, self.ref, self.client, **options)


@pytest.fixture(name="google")
def google_fixture(simulator: Any, azurite: Azurite) -> Iterator[Google]:
    for org in make_org(simulator):
        sctx = sync_context(azurite, org.settings)
        ref = CalendarRef("org-" + uuid.uuid4().hex[:8], "int-g", "google", "ann", mailbox=org.ann)
        client = org.calendar(org.ann)
        try:
            yield Google(org, sctx, ref, client)
        finally:
            client.close()


def test_external_google_events_are_kept_as_busy_intervals_only(google: Google) -> None:
    meeting = google.event(
        SECRET_SUBJECT,
        at(9),
        at(10),
        description=SECRET_BODY,
        location="Boardroom 7",
        attendees=[{"email": "cfo@fabrikam.example"}],
    )
    google.event("Out of office block", at(12), at(13), transparency="transparent")
    report = google.pull(page_size=1)
    assert report.complete and report.pages >= 2
    assert google.busy() == {meeting: (at(9), at(10), "busy")}
    stored = table_text(google.sctx.consent.tables)
    for content in (SECRET_SUBJECT, SECRET_BODY, "Boardroom 7", "cfo@fabrikam.example"):
        assert content not in stored


def test_google_move_and_delete_follow_and_an_invalid_sync_token_resyncs(google: Google) -> None:
    moved = google.event("Weekly sync", at(9), at(10))
    deleted = google.event("Lunch", at(12), at(13))
    google.pull()
    google.org.google.move_event(google.email, moved, at(14).isoformat(), at(15).isoformat())
    google.org.google.delete_event(google.email, deleted)
    incremental = google.pull()
    assert incremental.complete and not incremental.full_resync
    assert google.busy() == {moved: (at(14), at(15), "busy")}

    added = google.event("Planning", at(16), at(17))
    google.org.google.invalidate_sync_tokens(google.email)
    resynced = google.pull()
    assert resynced.full_resync and resynced.complete
    assert google.busy() == {moved: (at(14), at(15), "busy"), added: (at(16), at(17), "busy")}
    assert len(list(google.sctx.consent.tables.query("busy", google.ref.key))) == 2


def test_deletion_of_our_event_in_google_reaches_the_feed_once(google: Google) -> None:
    draft = EventDraft(
        key="k-" + uuid.uuid4().hex,
        app_ref="training-12",
        subject="Training: first aid",
        start=at(9),
        end=at(11),
    )
    written = google.client.create_event(draft)
    map_our_event(
        google.sctx,
        google.ref,
        written.id,
        written.change_key,
        app_event="training-12",
        start=at(9),
        end=at(11),
    )
    echo = google.pull()
    assert (echo.ours, echo.echoes, echo.notifications) == (1, 1, 0)
    assert google.busy() == {}

    google.org.google.delete_event(google.email, written.id)
    google.pull()
    google.org.google.invalidate_sync_tokens(google.email)
    google.pull()  # a full listing shows the cancelled event again: not reported twice
    assert feed(google.sctx, google.ref.org) == [
        (
            "event_cancelled",
            {
                "app_event": "training-12",
                "person": "ann",
                "integration_id": "int-g",
                "provider": "google",
                "provider_event_id": written.id,
            },
        )
    ]
