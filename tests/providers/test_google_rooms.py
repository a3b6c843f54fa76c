"""Rooms from the Admin SDK directory (resources.calendars.list) with a person's delegated grant:
the Workspace admin sees the rooms, others are refused with Google's reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.errors import ProviderDenied
from tests.providers.google_support import CALENDAR_EVENTS, Org, make_org

pytestmark = pytest.mark.simulator


@pytest.fixture
def org(simulator: Any) -> Iterator[Org]:
    yield from make_org(simulator)


def test_workspace_admin_lists_the_rooms_with_capacity_and_building(org: Org) -> None:
    with org.calendar(org.admin) as admin:
        rooms = admin.rooms()
    assert sorted((r.email, r.name, r.capacity, r.building) for r in rooms) == [
        (f"lisbon@{org.domain}", "Lisbon", 8, "hq"),
        (f"oslo@{org.domain}", "Oslo", 4, "hq"),
    ]


def test_rooms_page_through_the_directory(org: Org) -> None:
    for n in range(505):  # more than one page of 500
        org.google.add_room(f"desk{n}@{org.domain}", f"Desk {n}")
    with org.calendar(org.admin) as admin:
        assert len(admin.rooms()) == 507


def test_a_person_who_is_not_an_admin_is_refused_rooms(org: Org) -> None:
    with org.calendar(org.ann) as ann, pytest.raises(ProviderDenied) as caught:
        ann.rooms()
    assert caught.value.provider_code == "forbidden"


def test_a_grant_without_the_resource_scope_is_refused_rooms(org: Org) -> None:
    org.google.add_user(f"bea@{org.domain}", is_admin=True)
    with (
        org.calendar(f"bea@{org.domain}", scopes=[CALENDAR_EVENTS]) as bea,
        pytest.raises(ProviderDenied) as caught,
    ):
        bea.rooms()
    assert caught.value.provider_code == "insufficientPermissions"
