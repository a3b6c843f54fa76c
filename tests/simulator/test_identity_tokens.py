"""Token-endpoint refusals as msal receives them, each compared field by field with the shape
Microsoft publishes (tests/simulator/payloads/microsoft_identity/)."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from simulator.client import SignInError
from tests.simulator.test_identity_support import (  # noqa: F401 (fixtures)
    REDIRECT,
    SCOPES,
    Org,
    assert_token_error,
    connect,
    org_fixture,
    payload,
    server_fixture,
    sim_fixture,
)


def _signed_in(org: Org) -> tuple[Any, dict[str, Any]]:
    app, flow, response = connect(org, org.user["mail"])
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "refresh_token" in result, result
    return app, result


def test_password_change_revokes_the_refresh_token_aadsts50173(org: Org) -> None:
    app, result = _signed_in(org)
    assert org.sim.revoke_refresh_tokens(org.tenant["id"], org.user["mail"]) == 1
    refused = app.acquire_token_by_refresh_token(result["refresh_token"], SCOPES)
    assert_token_error(refused, 50173)
    recorded = payload("token_error_revoked_grant_50173.json")["body"]
    assert set(refused) == set(recorded)
    assert refused["error"] == recorded["error"] and refused["suberror"] == recorded["suberror"]
    assert "TokensValidFrom" in refused["error_description"]


def test_admin_revoking_one_app_leaves_other_apps_alone(org: Org) -> None:
    app, result = _signed_in(org)
    other = org.sim.create_app(
        "Other", client_secret="x", redirect_uris=[REDIRECT], delegated_permissions=["User.Read"]
    )
    assert org.sim.revoke_refresh_tokens(org.tenant["id"], org.user["id"], other["client_id"]) == 0
    still = app.acquire_token_by_refresh_token(result["refresh_token"], SCOPES)
    assert "access_token" in still
    revoked = org.sim.revoke_refresh_tokens(org.tenant["id"], org.user["id"], org.app["client_id"])
    assert revoked == 1
    refused = app.acquire_token_by_refresh_token(still["refresh_token"], SCOPES)
    assert_token_error(refused, 50173)


def test_refresh_token_unused_for_90_days_expires_aadsts700082(org: Org) -> None:
    app, result = _signed_in(org)
    org.sim.advance_clock(89 * 86400)
    kept = app.acquire_token_by_refresh_token(result["refresh_token"], SCOPES)
    assert "access_token" in kept, kept
    org.sim.advance_clock(91 * 86400)
    refused = app.acquire_token_by_refresh_token(kept["refresh_token"], SCOPES)
    assert_token_error(refused, 700082)


def test_mfa_turned_on_makes_refresh_need_interaction_aadsts50076(org: Org) -> None:
    app, result = _signed_in(org)
    org.sim.set_tenant_policy(org.tenant["id"], mfa_required=True)
    refused = app.acquire_token_by_refresh_token(result["refresh_token"], SCOPES)
    assert_token_error(refused, 50076)
    # Signing in again interactively satisfies MFA; that refresh token works.
    app, result = _signed_in(org)
    assert "access_token" in app.acquire_token_by_refresh_token(result["refresh_token"], SCOPES)


def test_consent_withdrawn_makes_refresh_fail_aadsts65001(org: Org) -> None:
    app, result = _signed_in(org)
    org.sim.revoke_consent(org.tenant["id"], org.app["client_id"], user=org.user["id"])
    refused = app.acquire_token_by_refresh_token(result["refresh_token"], SCOPES)
    assert_token_error(refused, 65001)
    assert refused["error"] == "invalid_grant" and refused["suberror"] == "consent_required"


def test_conditional_access_block_on_refresh_aadsts53003(org: Org) -> None:
    app, result = _signed_in(org)
    org.sim.set_tenant_policy(org.tenant["id"], conditional_access_block=True)
    refused = app.acquire_token_by_refresh_token(result["refresh_token"], SCOPES)
    assert_token_error(refused, 53003)


def test_wrong_client_secret_is_invalid_client_aadsts7000215(org: Org) -> None:
    org.sim.grant_consent(org.tenant["id"], org.app["client_id"], app_roles=["User.Read.All"])
    refused = org.msal_app(secret="not-the-secret").acquire_token_for_client(
        ["https://graph.microsoft.com/.default"]
    )
    assert_token_error(refused, 7000215)
    raw = httpx.post(
        f"{org.base_url}/{org.tenant['id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": org.app["client_id"],
            "client_secret": "wrong",
            "scope": "https://graph.microsoft.com/.default",
        },
        verify=_ssl(org),
    )
    assert raw.status_code == 401
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers["cache-control"] == "no-store, no-cache"


def _ssl(org: Org) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(org.trust))


def test_pkce_verifier_mismatch_is_refused(org: Org) -> None:
    app, flow, response = connect(org, org.user["mail"])
    flow["code_verifier"] = "x" * 43
    refused = app.acquire_token_by_auth_code_flow(flow, response)
    assert_token_error(refused, 501481)


def test_authorization_code_is_single_use(org: Org) -> None:
    app, flow, response = connect(org, org.user["mail"])
    assert "access_token" in app.acquire_token_by_auth_code_flow(dict(flow), response)
    refused = app.acquire_token_by_auth_code_flow(dict(flow), response)
    assert_token_error(refused, 54005)


def test_code_expires_after_ten_minutes(org: Org) -> None:
    app, flow, response = connect(org, org.user["mail"])
    org.sim.advance_clock(601)
    refused = app.acquire_token_by_auth_code_flow(flow, response)
    assert refused["error"] == "invalid_grant" and refused["error_codes"] == [70008]


def test_client_credentials_in_a_tenant_without_the_app_aadsts700016(org: Org) -> None:
    refused = org.msal_app().acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert_token_error(refused, 700016)


def test_unknown_tenant_fails_discovery(org: Org) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration") as caught:
        org.msal_app(authority_tenant="nowhere.example")
    # msal wraps the discovery answer (HTTP 400 with AADSTS90002) it got from the simulator.
    assert "AADSTS90002" in str(caught.value.__context__)


def test_disabled_account_cannot_sign_in_or_refresh_aadsts50057(org: Org) -> None:
    app, result = _signed_in(org)
    org.sim.update_user(org.tenant["id"], org.user["id"], account_enabled=False)
    refused = app.acquire_token_by_refresh_token(result["refresh_token"], SCOPES)
    assert refused["error"] == "invalid_grant" and refused["error_codes"] == [50057]
    with pytest.raises(SignInError, match="AADSTS50057"):
        connect(org, org.user["mail"])
