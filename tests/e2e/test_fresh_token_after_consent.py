"""An admin grants consent and reruns: the change takes effect at once, not when a cached
app-only token expires an hour later."""

from __future__ import annotations

from tests.e2e.conftest import RETURN_TO, Stack
from tests.e2e.sync_support import ADMIN, microsoft_workspace
from tests.e2e.tenants import grant_room_listing


def test_rooms_directory_works_right_after_the_admin_grants_place_read_all(
    stack: Stack, org: str
) -> None:
    workspace = microsoft_workspace(stack, org)
    path = f"orgs/{org}/rooms/directory"
    refused = stack.call("GET", path, org=org, sub="ada", roles=ADMIN)
    assert refused.status_code == 403, refused.text

    grant_room_listing(stack, workspace.tenant)

    listed = stack.call("GET", path, org=org, sub="ada", roles=ADMIN)
    assert listed.status_code == 200, listed.text
    assert [r["name"] for r in listed.json()["items"]] == ["Aurora"]


def test_the_rooms_check_passes_when_the_admin_reruns_the_test_after_granting(
    stack: Stack, org: str
) -> None:
    workspace = microsoft_workspace(stack, org)
    path = f"orgs/{org}/integrations/{workspace.integration}/test"
    first = stack.call("GET", path, org=org, sub="ada", roles=ADMIN).json()
    assert {c["name"]: c["outcome"] for c in first["checks"]}["rooms"] == "failed"

    grant_room_listing(stack, workspace.tenant)

    started = stack.call(
        "POST", path, org=org, sub="ada", roles=ADMIN, json={"return_to": RETURN_TO}
    )
    assert started.status_code == 202, started.text
    callback = stack.sim.microsoft_sign_in(started.json()["consent_url"], workspace.tenant.it_admin)
    assert stack.follow_callback(callback).status_code == 302
    again = stack.call("GET", path, org=org, sub="ada", roles=ADMIN).json()
    assert {c["name"]: c["outcome"] for c in again["checks"]}["rooms"] == "passed"
