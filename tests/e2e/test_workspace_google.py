"""Workspace integration with Google Workspace; and switching cloud suites."""

from __future__ import annotations

from tests.e2e.conftest import RETURN_TO, Stack
from tests.e2e.tenants import (
    SECRET_SUBJECT,
    google_org,
    microsoft_org,
    put_secret_meeting_in_google,
)
from tests.e2e.test_workspace_microsoft import create_and_test, enable, query

ADMIN = ("admin",)


def google_test(stack: Stack, org: str, admin_email: str) -> tuple[str, dict[str, str]]:
    created = stack.call(
        "POST",
        f"orgs/{org}/integrations",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"kind": "workspace", "provider": "google"},
    )
    integration = created.json()["id"]
    started = stack.call(
        "POST",
        f"orgs/{org}/integrations/{integration}/test",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"return_to": RETURN_TO},
    ).json()
    back = stack.follow_callback(stack.sim.google.sign_in(started["consent_url"], admin_email))
    assert back.status_code == 302, back.text
    return integration, query(back.headers["location"])


def result(stack: Stack, org: str, integration: str) -> dict:  # type: ignore[type-arg]
    response = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}/test", org=org, sub="ada", roles=ADMIN
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_google_admin_tests_with_a_preview_and_a_user_connects(stack: Stack, org: str) -> None:
    domain = google_org(stack)
    put_secret_meeting_in_google(stack, domain.it_admin)
    integration, outcome = google_test(stack, org, domain.it_admin)
    assert outcome["test"] == "passed"
    found = result(stack, org, integration)
    assert found["preview"]["subject"] == SECRET_SUBJECT
    assert found["tenant"] == domain.domain
    assert all(c["outcome"] == "passed" for c in found["checks"]), found["checks"]
    enable(stack, org, integration)

    start = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub="bob",
        params={"return_to": RETURN_TO},
    )
    back = stack.follow_callback(
        stack.sim.google.sign_in(start.headers["location"], domain.users[0])
    )
    assert query(back.headers["location"]) == {"calendar": "connected"}
    again = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub="bob",
        params={"return_to": RETURN_TO},
    )
    assert again.headers["location"] == f"{RETURN_TO}?calendar=connected"


def test_an_app_the_workspace_admin_has_not_trusted_is_diagnosed(stack: Stack, org: str) -> None:
    domain = google_org(stack, trust="blocked", block_response="redirect")
    integration, outcome = google_test(stack, org, domain.it_admin)
    assert outcome["test"] == "failed"
    (issue,) = result(stack, org, integration)["issues"]
    assert issue["code"] == "google.admin_policy_enforced"
    assert issue["who_must_act"] == "cloud_admin"
    assert any("API controls" in step or "trust" in step.lower() for step in issue["fix"])


def test_context_aware_access_blocking_is_diagnosed(stack: Stack, org: str) -> None:
    domain = google_org(stack, context_aware_block=True, block_response="redirect")
    integration, outcome = google_test(stack, org, domain.it_admin)
    assert outcome["test"] == "failed"
    (issue,) = result(stack, org, integration)["issues"]
    assert issue["code"] == "google.context_aware_access"
    assert issue["who_must_act"] == "cloud_admin"


def test_enabling_a_second_suite_asks_then_replaces_the_first(stack: Stack, org: str) -> None:
    tenant = microsoft_org(stack)
    microsoft = create_and_test(stack, org, "ada", tenant.it_admin, consent_for_org=True)
    enable(stack, org, microsoft)
    domain = google_org(stack)
    google, outcome = google_test(stack, org, domain.it_admin)
    assert outcome["test"] == "passed"

    refused = stack.call(
        "POST", f"orgs/{org}/integrations/{google}/enable", org=org, sub="ada", roles=ADMIN
    )
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "another_integration_active"
    assert problem["active"]["id"] == microsoft
    assert problem["consequences"]

    enable(stack, org, google, confirm_replace=True)
    listed = stack.call("GET", f"orgs/{org}/integrations", org=org, sub="ada", roles=ADMIN).json()
    states = {i["id"]: (i["status"], i.get("purge_at") is not None) for i in listed["items"]}
    assert states == {microsoft: ("disabled", True), google: ("enabled", False)}
