"""The admin sees people's failed connection attempts and broken connections, in the people
view and in the integration's health, without reading any provider message text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.storage.keys import encode_key
from shared.sync.health import record_run
from tests.e2e.conftest import MICROSOFT_CLIENT_ID, RETURN_TO, Stack
from tests.e2e.sync_support import (
    ADMIN,
    connect_microsoft,
    microsoft_workspace,
    new_person_id,
)
from tests.e2e.test_workspace_microsoft import connect


def people(stack: Stack, org: str, integration: str) -> dict[str, dict[str, Any]]:
    response = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}/people", org=org, sub="ada", roles=ADMIN
    )
    assert response.status_code == 200, response.text
    return {p["person"]: p for p in response.json()["items"]}


def health(stack: Stack, org: str, integration: str) -> dict[str, Any]:
    response = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}/health", org=org, sub="ada", roles=ADMIN
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_users_failed_attempt_and_a_broken_connection_show_in_people_and_health(
    stack: Stack, org: str
) -> None:
    workspace = microsoft_workspace(stack, org, users=3)
    tenant = workspace.tenant
    working, broken, refused = new_person_id(), new_person_id(), new_person_id()
    connect_microsoft(stack, org, working, tenant.users[0])
    connect_microsoft(stack, org, broken, tenant.users[1])
    before = health(stack, org, workspace.integration)
    assert (
        before["connections_needing_reconnect"],
        before["connection_attempts_failed"],
        before["calendars_failing"],
    ) == (0, 0, 0)

    # IT requires assignment and assigns only itself: the third user's attempt fails.
    stack.sim.assign_user(tenant.tenant_id, MICROSOFT_CLIENT_ID, tenant.it_admin)
    stack.sim.assign_user(tenant.tenant_id, MICROSOFT_CLIENT_ID, tenant.users[0])
    stack.sim.assign_user(tenant.tenant_id, MICROSOFT_CLIENT_ID, tenant.users[1])
    stack.sim.set_assignment_required(tenant.tenant_id, MICROSOFT_CLIENT_ID, True)
    assert connect(stack, org, refused, tenant.users[2]) == {
        "calendar": "error",
        "code": "AADSTS50105",
    }
    # The second user's refresh token is revoked; their next connect finds out (it redeems it).
    stack.sim.revoke_refresh_tokens(tenant.tenant_id, tenant.users[1])
    again = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub=broken,
        params={"return_to": RETURN_TO},
    )
    assert again.status_code == 302, again.text
    # The first person's calendar fails to sync (as the worker records a failed run).
    key = f"{workspace.integration}:{encode_key(working)}"
    record_run(stack.services.tables, org, key, stack.clock.now(), "provider_denied")

    listed = people(stack, org, workspace.integration)
    assert listed[refused]["status"] == "not_connected"
    assert listed[refused]["last_error"] == "AADSTS50105"
    assert datetime.fromisoformat(listed[refused]["last_error_at"]) is not None
    assert listed[broken]["status"] == "needs_reconnect"
    assert listed[broken]["last_error"] and listed[broken]["last_error_at"]
    assert listed[working]["status"] == "connected"
    assert listed[working]["last_error"] == "provider_denied"
    shown = health(stack, org, workspace.integration)
    assert shown["connections_needing_reconnect"] == 1
    assert shown["connection_attempts_failed"] == 1
    assert shown["calendars_failing"] == 1

    # Once assigned, the person connects and the failed attempt is gone.
    stack.sim.assign_user(tenant.tenant_id, MICROSOFT_CLIENT_ID, tenant.users[2])
    assert connect(stack, org, refused, tenant.users[2]) == {"calendar": "connected"}
    listed = people(stack, org, workspace.integration)
    assert (listed[refused]["status"], listed[refused].get("last_error")) == ("connected", None)
    assert health(stack, org, workspace.integration)["connection_attempts_failed"] == 0
