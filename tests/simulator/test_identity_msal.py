"""Contract tests: the real msal (ConfidentialClientApplication) against the simulated Entra ID.

Each test builds its own tenant and app through the control client, drives the sign-in pages
with :meth:`SimulatorClient.microsoft_sign_in` and lets msal do what the service does.
"""

from __future__ import annotations

import jwt
import msal

from tests.simulator.test_identity_support import (  # noqa: F401 (fixtures)
    SCOPES,
    Org,
    connect,
    org_fixture,
    server_fixture,
    sim_fixture,
)


def test_user_consents_and_msal_redeems_the_code(org: Org) -> None:
    app, flow, response = connect(org, org.user["mail"])
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["oid"] == org.user["id"]
    assert result["id_token_claims"]["tid"] == org.tenant["id"]
    assert result["id_token_claims"]["preferred_username"] == org.user["user_principal_name"]
    accounts = app.get_accounts()
    assert [a["home_account_id"] for a in accounts] == [f"{org.user['id']}.{org.tenant['id']}"]
    sp = org.sim.service_principal(org.tenant["id"], org.app["client_id"])
    assert set(SCOPES) <= set(sp["delegated_grants"][org.user["id"]])


def test_refresh_token_rotates_and_the_old_one_is_refused(org: Org) -> None:
    app, flow, response = connect(org, org.user["mail"])
    first = app.acquire_token_by_auth_code_flow(flow, response)
    second = app.acquire_token_by_refresh_token(first["refresh_token"], SCOPES)
    assert "access_token" in second, second
    assert second["refresh_token"] != first["refresh_token"]
    again = app.acquire_token_by_refresh_token(first["refresh_token"], SCOPES)
    assert again["error"] == "invalid_grant"
    third = app.acquire_token_by_refresh_token(second["refresh_token"], SCOPES)
    assert "access_token" in third, third


def test_silent_acquisition_uses_the_rotated_refresh_token(org: Org) -> None:
    app, flow, response = connect(org, org.user["mail"])
    app.acquire_token_by_auth_code_flow(flow, response)
    account = app.get_accounts()[0]
    cached = app.acquire_token_silent(SCOPES, account=account)
    assert cached["token_source"] == "cache"
    # msal times its cache with the real clock, so the refresh is forced rather than awaited.
    first_rt = next(iter(app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)))
    refreshed = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert refreshed["token_source"] == "identity_provider", refreshed
    rts = list(app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN))
    assert [rt["secret"] for rt in rts] != [first_rt["secret"]]
    again = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert again["token_source"] == "identity_provider", again


def test_client_credentials_carry_the_admin_consented_app_roles(org: Org) -> None:
    org.sim.grant_consent(
        org.tenant["id"], org.app["client_id"], app_roles=["Calendars.ReadWrite", "User.Read.All"]
    )
    result = org.msal_app().acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["Calendars.ReadWrite", "User.Read.All"]
    assert claims["tid"] == org.tenant["id"]
    vault = org.msal_app().acquire_token_for_client(["https://vault.azure.net/.default"])
    assert jwt.decode(vault["access_token"], options={"verify_signature": False})["aud"] == (
        "https://vault.azure.net"
    )
