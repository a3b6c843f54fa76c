"""Service integrations on Google: a service account acting for people through domain-wide
delegation (google-auth service_account credentials) against the simulator, and room listing
through the Admin SDK directory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import ProviderDenied
from shared.providers.base import EventDraft
from shared.providers.google.calendar import GoogleCalendarClient
from shared.providers.google.service_account import CALENDAR_SCOPE, GoogleServiceAccountAuth
from tests.providers.google_support import CALENDAR_EVENTS, ROOMS_READONLY, Org, make_org

pytestmark = pytest.mark.simulator


@pytest.fixture
def org(simulator: Any) -> Iterator[Org]:
    yield from make_org(simulator)


@pytest.fixture
def key(org: Org) -> dict[str, Any]:
    return org.google.add_service_account("calendar-sync-" + org.domain.split(".")[0])


def session() -> EventDraft:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    return EventDraft(
        key="svc/session-1/ann",
        app_ref="session-1",
        subject="Forklift course",
        start=start,
        end=start + timedelta(hours=2),
    )


def test_delegated_service_account_writes_to_a_persons_calendar(
    org: Org, key: dict[str, Any]
) -> None:
    org.google.grant_delegation(org.domain, key["client_id"], [CALENDAR_SCOPE])
    tokens = GoogleServiceAccountAuth(org.settings, key, org.ann)
    token = tokens()
    assert tokens() == token  # cached until it nears expiry
    assert tokens(force_refresh=True) != token
    with GoogleCalendarClient(org.settings, tokens) as calendar:
        written = calendar.create_event(session())
    assert [e["id"] for e in org.google.events(org.ann)] == [written.id]


def test_service_account_without_delegation_is_denied_unauthorized_client(
    org: Org, key: dict[str, Any]
) -> None:
    tokens = GoogleServiceAccountAuth(org.settings, key, org.ann)
    with pytest.raises(ProviderDenied) as caught:
        tokens()
    assert caught.value.provider_code == "unauthorized_client"
    # The calendar client surfaces the same refusal rather than a transport error.
    with GoogleCalendarClient(org.settings, tokens) as calendar, pytest.raises(ProviderDenied):
        calendar.create_event(session())


def test_delegation_missing_a_scope_is_denied(org: Org, key: dict[str, Any]) -> None:
    org.google.grant_delegation(org.domain, key["client_id"], [CALENDAR_EVENTS])
    with pytest.raises(ProviderDenied) as caught:
        GoogleServiceAccountAuth(org.settings, key, org.ann)()  # asks for .../auth/calendar
    assert caught.value.provider_code == "unauthorized_client"
    narrow = GoogleServiceAccountAuth(org.settings, key, org.ann, scopes=[CALENDAR_EVENTS])
    assert narrow()


def test_service_account_impersonating_an_admin_lists_rooms(org: Org, key: dict[str, Any]) -> None:
    org.google.grant_delegation(org.domain, key["client_id"], [CALENDAR_SCOPE, ROOMS_READONLY])
    people = GoogleServiceAccountAuth(org.settings, key, org.ann)
    admin = people.for_subject(org.admin, scopes=[ROOMS_READONLY])
    with GoogleCalendarClient(org.settings, admin) as directory:
        rooms = directory.rooms()
    assert sorted((r.email, r.name, r.capacity, r.building) for r in rooms) == [
        (f"lisbon@{org.domain}", "Lisbon", 8, "hq"),
        (f"oslo@{org.domain}", "Oslo", 4, "hq"),
    ]
