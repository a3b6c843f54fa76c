"""A route value never changes the provider URL it is placed in: values that cannot be event
ids are refused at the edge (400), and every other one reaches the provider as one segment."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.sync_support import (
    connect_google,
    connect_microsoft,
    google_workspace,
    microsoft_workspace,
    new_person_id,
)

# (A literal ".." never leaves the client: HTTP clients remove dot segments themselves.)
TRAVERSALS = ("..%2F..%2Fintegrations", "%2E%2E", "%2E", "a%2Fb", "x%3Fy", "x%23y", "%00", "a%20b")


def put_app_data(stack: Stack, org: str, person: str, raw_id: str) -> tuple[int, str]:
    response = stack.call(
        "PUT",
        f"orgs/{org}/me/events/{raw_id}/app-data",
        org=org,
        sub=person,
        json={"data": {"x": 1}},
    )
    body = response.json() if response.content else {}
    return response.status_code, str(body.get("code", ""))


@pytest.mark.parametrize("provider", ["microsoft", "google"])
def test_an_event_id_that_would_change_the_provider_path_is_a_400(
    stack: Stack, org: str, provider: str
) -> None:
    person = new_person_id()
    if provider == "microsoft":
        workspace = microsoft_workspace(stack, org)
        connect_microsoft(stack, org, person, workspace.tenant.users[0])
    else:
        domain = google_workspace(stack, org)
        connect_google(stack, org, person, domain.domain.users[0])
    stack.sim.reset_stats()
    for raw in TRAVERSALS:
        assert put_app_data(stack, org, person, raw) == (400, "invalid_event_id"), raw
    # None of them reached the provider.
    assert stack.sim.stats()["total"] == 0
    # A well-formed id that does not exist is looked up (as one segment) and is not found.
    assert put_app_data(stack, org, person, "AAMkNoSuchEvent_x-y=") == (404, "event_not_found")
