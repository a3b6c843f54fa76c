"""Every tenant situation of the consent troubleshooting guide (seed 000) and the enabling guide
(seed 001), as the service meets it through msal: the error at the redirect URI or from /token.

``microsoft_sign_in(..., accept=False)`` is used to prove that no consent page was shown: had one
been shown, the simulated person would have pressed Cancel and the callback would carry an error.
"""

from __future__ import annotations

from urllib.parse import urlencode

import jwt

from tests.simulator.test_identity_support import (  # noqa: F401 (fixtures)
    REDIRECT,
    SCOPES,
    Org,
    assert_redirect_error,
    connect,
    org_fixture,
    payload,
    query,
    server_fixture,
    sim_fixture,
)


def _state_of(flow: dict[str, object]) -> str:
    return str(flow["state"])


def test_unassigned_user_gets_aadsts50105_and_an_assigned_one_connects(org: Org) -> None:
    org.sim.set_assignment_required(org.tenant["id"], org.app["client_id"])
    app, flow, response = connect(org, org.user["mail"])
    assert_redirect_error(response, 50105, _state_of(flow))
    assert org.user["user_principal_name"] in response["error_description"]
    assert org.app["client_id"] in response["error_description"]
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert result["error"] == "access_denied"

    org.sim.assign_user(org.tenant["id"], org.app["client_id"], org.user["mail"])
    app, flow, response = connect(org, org.user["mail"])
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)


def test_user_consent_disabled_means_admin_approval_aadsts90094(org: Org) -> None:
    org.sim.set_tenant_policy(org.tenant["id"], user_consent="disabled")
    _, flow, response = connect(org, org.user["mail"])
    assert_redirect_error(response, 90094, _state_of(flow))
    assert org.sim.consent_requests(org.tenant["id"]) == []


def test_low_impact_consent_allows_sign_in_scopes_but_not_calendars(org: Org) -> None:
    org.sim.set_tenant_policy(org.tenant["id"], user_consent="low_impact_only")
    _, flow, response = connect(org, org.user["mail"])
    assert_redirect_error(response, 90094, _state_of(flow))
    app = org.msal_app()
    low = app.initiate_auth_code_flow(
        ["User.Read"], redirect_uri=REDIRECT, response_mode="form_post"
    )
    callback = query(org.sim.microsoft_sign_in(low["auth_uri"], org.user["mail"]))
    assert "access_token" in app.acquire_token_by_auth_code_flow(low, callback)


def test_consent_request_is_filed_and_after_approval_users_go_straight_back(org: Org) -> None:
    tenant = org.tenant["id"]
    org.sim.set_tenant_policy(tenant, user_consent="disabled", admin_consent_workflow=True)
    _, flow, response = connect(org, org.user["mail"])
    assert_redirect_error(response, 90094, _state_of(flow))
    [request] = org.sim.consent_requests(tenant)
    assert request["user_id"] == org.user["id"] and request["status"] == "pending"
    assert {"Calendars.ReadWrite", "User.Read"} <= set(request["scopes"])
    _, _, again = connect(org, org.user["mail"])  # a second attempt files no duplicate
    assert len(org.sim.consent_requests(tenant)) == 1 and "error" in again

    assert org.sim.approve_consent_request(tenant, request["id"])["status"] == "approved"
    app, flow, response = connect(org, org.user["mail"], accept=False)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)


def test_admin_consents_for_the_organization_then_users_see_no_consent_page(org: Org) -> None:
    app, flow, response = connect(org, org.admin["mail"], consent_for_org=True)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)
    app, flow, response = connect(org, org.user["mail"], accept=False)
    assert "code" in response
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)


def test_user_cancels_consent_aadsts65004(org: Org) -> None:
    _, flow, response = connect(org, org.user["mail"], accept=False)
    assert_redirect_error(response, 65004, _state_of(flow))


def test_conditional_access_block_aadsts53003(org: Org) -> None:
    org.sim.set_tenant_policy(org.tenant["id"], conditional_access_block=True)
    _, flow, response = connect(org, org.user["mail"])
    assert_redirect_error(response, 53003, _state_of(flow))


def test_single_tenant_app_of_another_tenant_aadsts700016(org: Org) -> None:
    other = org.sim.create_tenant("vendor.example")
    single = org.sim.create_app(
        "Vendor-only app",
        client_secret="s",
        redirect_uris=[REDIRECT],
        delegated_permissions=["User.Read"],
        home_tenant_id=other["id"],
    )
    org.app = single
    _, flow, response = connect(org, org.user["mail"])
    assert_redirect_error(response, 700016, _state_of(flow))
    assert org.tenant["display_name"] in response["error_description"]


def test_guest_from_another_tenant_is_blocked_aadsts50020(org: Org) -> None:
    fabrikam = org.sim.create_tenant("fabrikam.example")
    guest = org.sim.create_user(fabrikam["id"], "gina")
    org.sim.set_tenant_policy(org.tenant["id"], guests_blocked=True)
    _, flow, response = connect(org, guest["mail"])
    assert_redirect_error(response, 50020, _state_of(flow))
    assert guest["mail"] in response["error_description"]


def test_prompt_none_without_a_session_is_login_required(org: Org) -> None:
    app = org.msal_app()
    flow = app.initiate_auth_code_flow(
        SCOPES, redirect_uri=REDIRECT, prompt="none", response_mode="form_post"
    )
    response = query(org.sim.microsoft_sign_in(flow["auth_uri"], org.user["mail"]))
    assert response["error"] == "login_required"
    assert response["error_description"].startswith("AADSTS50058: ")


def _admin_consent_url(org: Org, tenant: str, v2: bool, state: str = "12345") -> str:
    params = {"client_id": org.app["client_id"], "redirect_uri": REDIRECT, "state": state}
    if v2:
        params["scope"] = "https://graph.microsoft.com/.default"
    path = "v2.0/adminconsent" if v2 else "adminconsent"
    return f"{org.base_url}/{tenant}/{path}?{urlencode(params)}"


def test_v2_admin_consent_grants_roles_and_users_skip_consent(org: Org) -> None:
    url = _admin_consent_url(org, "organizations", v2=True)
    callback = org.sim.microsoft_sign_in(url, org.admin["mail"])
    params = query(callback)
    documented = query(payload("admin_consent_v2.json")["success"])
    assert set(params) == set(documented)
    assert params["admin_consent"] == "True"
    assert params["tenant"] == org.tenant["id"]
    assert params["state"] == "12345"
    assert params["scope"] == "https://graph.microsoft.com/.default"
    token = org.msal_app().acquire_token_for_client(["https://graph.microsoft.com/.default"])
    roles = jwt.decode(token["access_token"], options={"verify_signature": False})["roles"]
    assert roles == ["Calendars.ReadWrite", "User.Read.All"]
    app, flow, response = connect(org, org.user["mail"], accept=False)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)


def test_v1_admin_consent_link_on_common(org: Org) -> None:
    callback = org.sim.microsoft_sign_in(
        _admin_consent_url(org, "common", v2=False), org.admin["mail"]
    )
    params = query(callback)
    assert params == {"admin_consent": "True", "tenant": org.tenant["id"], "state": "12345"}


def test_admin_consent_cancelled_is_aadsts65004(org: Org) -> None:
    url = _admin_consent_url(org, org.tenant["id"], v2=True)
    params = query(org.sim.microsoft_sign_in(url, org.admin["mail"], accept=False))
    assert_redirect_error(params, 65004, "12345")
    assert params["admin_consent"] == "True" and params["tenant"] == org.tenant["id"]
    assert org.sim.tenant(org.tenant["id"])["service_principals"] == []


def test_admin_consent_by_a_non_admin_is_aadsts90094(org: Org) -> None:
    url = _admin_consent_url(org, org.tenant["domains"][0], v2=True)
    params = query(org.sim.microsoft_sign_in(url, org.user["mail"]))
    assert_redirect_error(params, 90094, "12345")
