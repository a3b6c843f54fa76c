"""Workspace integration with Microsoft 365, end to end through the HTTP contract."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.e2e.conftest import MICROSOFT_CLIENT_ID, RETURN_TO, Stack
from tests.e2e.tenants import (
    SECRET_SUBJECT,
    grant_room_listing,
    microsoft_org,
    put_secret_meeting_in_outlook,
)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def create_and_test(
    stack: Stack, org: str, admin_sub: str, admin_email: str, **sign_in: bool
) -> str:
    """The subscription admin creates a Microsoft integration and runs its test flow."""
    created = stack.call(
        "POST",
        f"orgs/{org}/integrations",
        org=org,
        sub=admin_sub,
        roles=("admin",),
        json={"kind": "workspace", "provider": "microsoft"},
    )
    assert created.status_code == 201, created.text
    integration = created.json()["id"]
    started = stack.call(
        "POST",
        f"orgs/{org}/integrations/{integration}/test",
        org=org,
        sub=admin_sub,
        roles=("admin",),
        json={"return_to": RETURN_TO},
    )
    assert started.status_code == 202, started.text
    callback = stack.sim.microsoft_sign_in(started.json()["consent_url"], admin_email, **sign_in)
    back = stack.follow_callback(callback)
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(RETURN_TO)
    return integration


def test_admin_tests_with_a_live_preview_enables_and_users_connect(stack: Stack, org: str) -> None:
    tenant = microsoft_org(stack)
    grant_room_listing(stack, tenant)
    put_secret_meeting_in_outlook(stack, tenant.it_admin)

    integration = create_and_test(stack, org, "ada", tenant.it_admin, consent_for_org=True)
    result = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}/test", org=org, sub="ada", roles=("admin",)
    ).json()
    assert result["status"] == "passed", result["issues"]
    assert result["can_enable"] is True
    assert {c["name"]: c["outcome"] for c in result["checks"]} == {
        "consent": "passed",
        "scopes": "passed",
        "write_calendar": "passed",
        "profile": "passed",
        "read_calendar": "passed",
        "rooms": "passed",
        "webhook": "passed",
    }
    assert result["preview"]["subject"] == SECRET_SUBJECT
    assert result["tenant"] == tenant.tenant_id

    enabled = stack.call(
        "POST",
        f"orgs/{org}/integrations/{integration}/enable",
        org=org,
        sub="ada",
        roles=("admin",),
    )
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["status"] == "enabled"

    # A user connects: consent was given for the whole organisation, so no consent screen.
    user = tenant.users[0]
    connect = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub="bob",
        params={"return_to": RETURN_TO},
    )
    assert connect.status_code == 302
    callback = stack.sim.microsoft_sign_in(connect.headers["location"], user, accept=False)
    back = stack.follow_callback(callback)
    assert query(back.headers["location"]) == {"calendar": "connected"}

    status = stack.call("GET", f"orgs/{org}/me/calendar", org=org, sub="bob").json()
    assert (status["status"], status["account"]) == ("connected", user)

    # A second connect goes straight back to the app: the provider is not involved.
    again = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub="bob",
        params={"return_to": RETURN_TO},
    )
    assert again.status_code == 302
    assert again.headers["location"] == f"{RETURN_TO}?calendar=connected"


def enable(stack: Stack, org: str, integration: str, **body: bool) -> None:
    response = stack.call(
        "POST",
        f"orgs/{org}/integrations/{integration}/enable",
        org=org,
        sub="ada",
        roles=("admin",),
        json=body,
    )
    assert response.status_code == 200, response.text


def connect(stack: Stack, org: str, sub: str, email: str, **sign_in: bool) -> dict[str, str]:
    start = stack.call(
        "GET", f"orgs/{org}/me/calendar/connect", org=org, sub=sub, params={"return_to": RETURN_TO}
    )
    assert start.status_code == 302, start.text
    back = stack.follow_callback(
        stack.sim.microsoft_sign_in(start.headers["location"], email, **sign_in)
    )
    assert back.status_code == 302, back.text
    return query(back.headers["location"])


def test_an_unassigned_user_gets_aadsts50105_with_the_remedy(stack: Stack, org: str) -> None:
    tenant = microsoft_org(stack)
    integration = create_and_test(stack, org, "ada", tenant.it_admin, consent_for_org=True)
    enable(stack, org, integration)
    # IT turns on "Assignment required?" for the enterprise application and assigns only itself.
    stack.sim.assign_user(tenant.tenant_id, MICROSOFT_CLIENT_ID, tenant.it_admin)
    stack.sim.set_assignment_required(tenant.tenant_id, MICROSOFT_CLIENT_ID, True)

    outcome = connect(stack, org, "bob", tenant.users[0])
    assert outcome == {"calendar": "error", "code": "AADSTS50105"}

    explained = stack.call("GET", "diagnostics/AADSTS50105", org=org, sub="bob").json()
    assert explained["who_must_act"] == "cloud_admin"
    steps = " ".join(explained["fix"])
    assert "Default Access" in steps and "Assignment required?" in steps
    status = stack.call("GET", f"orgs/{org}/me/calendar", org=org, sub="bob")
    assert status.status_code == 404


def test_admin_approval_then_the_admin_consent_link_then_no_consent_screen(
    stack: Stack, org: str
) -> None:
    tenant = microsoft_org(stack, user_consent="low_impact_only", admin_consent_workflow=True)
    grant_room_listing(stack, tenant)
    # The office manager (no Entra ID admin rights) runs the test: "Need admin approval".
    integration = create_and_test(stack, org, "ada", tenant.app_admin)
    result = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}/test", org=org, sub="ada", roles=("admin",)
    ).json()
    assert result["status"] == "failed"
    (issue,) = result["issues"]
    assert issue["code"] == "AADSTS90094"
    assert issue["who_must_act"] == "cloud_admin"
    assert any("request" in step.lower() for step in issue["fix"])
    assert len(stack.sim.consent_requests(tenant.tenant_id)) == 1
    refused = stack.call(
        "POST",
        f"orgs/{org}/integrations/{integration}/enable",
        org=org,
        sub="ada",
        roles=("admin",),
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "test_required")

    # The IT admin uses the direct admin-consent link.
    link = stack.call(
        "GET",
        f"orgs/{org}/integrations/{integration}/admin-consent-url",
        org=org,
        sub="ada",
        roles=("admin",),
        params={"return_to": RETURN_TO},
    ).json()["url"]
    back = stack.follow_callback(stack.sim.microsoft_sign_in(link, tenant.it_admin))
    assert query(back.headers["location"]) == {
        "admin_consent": "granted",
        "tenant": tenant.tenant_id,
    }
    history = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}", org=org, sub="ada", roles=("admin",)
    ).json()["history"]
    assert "admin_consent_granted" in [h["action"] for h in history]

    # The rerun passes, and users connect without a consent screen (Cancel is never offered).
    started = stack.call(
        "POST",
        f"orgs/{org}/integrations/{integration}/test",
        org=org,
        sub="ada",
        roles=("admin",),
        json={"return_to": RETURN_TO},
    ).json()
    rerun = stack.follow_callback(
        stack.sim.microsoft_sign_in(started["consent_url"], tenant.app_admin, accept=False)
    )
    assert query(rerun.headers["location"])["test"] == "passed"
    enable(stack, org, integration)
    assert connect(stack, org, "bob", tenant.users[0], accept=False) == {"calendar": "connected"}


def test_a_revoked_refresh_token_needs_reconnecting_and_the_host_app_is_told(
    stack: Stack, org: str
) -> None:
    tenant = microsoft_org(stack)
    integration = create_and_test(stack, org, "ada", tenant.it_admin, consent_for_org=True)
    enable(stack, org, integration)
    user = tenant.users[0]
    assert connect(stack, org, "bob", user) == {"calendar": "connected"}

    # The user changes their password: Entra ID revokes every refresh token.
    stack.sim.revoke_refresh_tokens(tenant.tenant_id, user)
    start = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub="bob",
        params={"return_to": RETURN_TO},
    )
    assert start.headers["location"].startswith(stack.simulator.base_url)  # to sign-in, not back
    status = stack.call("GET", f"orgs/{org}/me/calendar", org=org, sub="bob").json()
    assert (status["status"], status["last_error"]) == ("needs_reconnect", "AADSTS50173")
    feed = stack.call(
        "GET", f"orgs/{org}/notifications", org=org, sub="backend", roles=("service",)
    ).json()
    (notice,) = feed["items"]
    assert notice["kind"] == "reconnect_needed"
    assert notice["data"]["subject"] == "bob"
    later = stack.call(
        "GET",
        f"orgs/{org}/notifications",
        org=org,
        sub="backend",
        roles=("service",),
        params={"after": feed["next_after"]},
    ).json()
    assert later["items"] == []

    # Connecting again restores the connection.
    back = stack.follow_callback(stack.sim.microsoft_sign_in(start.headers["location"], user))
    assert query(back.headers["location"]) == {"calendar": "connected"}
    status = stack.call("GET", f"orgs/{org}/me/calendar", org=org, sub="bob").json()
    assert (status["status"], status.get("last_error")) == ("connected", None)
