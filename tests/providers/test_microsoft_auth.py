"""The Microsoft sign-in adapter (msal) against the simulated Entra ID: consent, redemption,
silent refresh with rotation, revoked grants, consent errors, app-only tokens, admin consent."""

from __future__ import annotations

import json
import uuid

import jwt
import pytest

from shared.errors import ConsentFailed, ProviderDenied, ProviderUnavailable, ReconnectNeeded
from shared.providers.microsoft.auth import MicrosoftAppAuth
from tests.providers.microsoft_support import (  # noqa: F401 (fixtures)
    REDIRECT,
    Org,
    org_fixture,
    query,
    sim_fixture,
)


def test_person_consents_and_the_code_becomes_a_grant(org: Org) -> None:
    auth = org.auth()
    start = auth.begin(
        redirect_uri=REDIRECT,
        state="state-123",
        scopes=["offline_access", "Calendars.ReadWrite", "User.Read"],
        login_hint=org.user["mail"],
    )
    assert start.url.startswith(f"{org.base_url}/organizations/oauth2/v2.0/authorize?")
    assert query(start.url)["code_challenge_method"] == "S256"
    assert query(start.url)["state"] == "state-123"
    params = query(org.sim.microsoft_sign_in(start.url, org.user["mail"]))
    grant = auth.complete(start.flow, params)
    assert grant.account == org.user["user_principal_name"]
    assert grant.user_id == org.user["id"]
    assert grant.tenant == org.tenant["id"]
    assert grant.display_name == "Bob Builder"
    assert {"Calendars.ReadWrite", "User.Read"} <= grant.scopes
    assert json.loads(grant.token_blob)["RefreshToken"]
    token = auth.access_token(grant.token_blob)
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["oid"] == org.user["id"]
    # Straight from the cache: nothing changed, nothing to persist.
    assert token.updated_blob is None


def test_forced_refresh_rotates_the_refresh_token_and_returns_the_new_blob(org: Org) -> None:
    auth = org.auth()
    blob = org.connect()
    refreshed = auth.access_token(blob, force_refresh=True)
    assert refreshed.updated_blob is not None
    assert refreshed.updated_blob != blob
    # The old blob holds a refresh token the identity platform no longer accepts.
    with pytest.raises(ReconnectNeeded):
        auth.access_token(blob, force_refresh=True)
    again = auth.access_token(refreshed.updated_blob, force_refresh=True)
    assert again.updated_blob is not None


def test_token_source_persists_each_rotation(org: Org) -> None:
    saved: list[str] = []
    source = org.auth().token_source(org.connect(), on_rotated=saved.append)
    first = source()
    assert saved == []
    second = source(force_refresh=True)
    third = source(force_refresh=True)
    assert len(saved) == 2
    assert len({first, second, third}) == 3


def test_revoked_refresh_token_needs_a_reconnect_with_the_aadsts_code(org: Org) -> None:
    blob = org.connect()
    assert org.sim.revoke_refresh_tokens(org.tenant["id"], org.user["id"]) >= 1
    with pytest.raises(ReconnectNeeded) as caught:
        org.auth().access_token(blob, force_refresh=True)
    assert caught.value.provider == "microsoft"
    assert caught.value.provider_code == "AADSTS50173"
    assert "AADSTS50173" in caught.value.detail


def test_user_not_assigned_comes_back_as_consent_failed_50105(org: Org) -> None:
    org.sim.set_assignment_required(org.tenant["id"], org.app["client_id"], True)
    params = org.sign_in()
    assert params["error"] == "access_denied"
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(org.last_flow, params)
    assert caught.value.error == "access_denied"
    assert caught.value.error_codes == [50105]
    assert caught.value.error_description is not None
    assert org.user["user_principal_name"] in caught.value.error_description


def test_cancelled_consent_is_consent_failed(org: Org) -> None:
    params = org.sign_in(accept=False)
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(org.last_flow, params)
    assert caught.value.error == "access_denied"
    assert caught.value.error_codes == [65004]


def test_a_callback_with_another_state_is_refused(org: Org) -> None:
    params = org.sign_in()
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(org.last_flow, {**params, "state": "forged"})
    assert caught.value.error == "state_mismatch"


def test_a_code_redeemed_twice_is_refused_with_the_token_endpoint_error(org: Org) -> None:
    params = org.sign_in()
    org.auth().complete(org.last_flow, params)
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(org.last_flow, params)
    assert caught.value.error == "invalid_grant"
    assert caught.value.error_codes == [54005]


def test_admin_consent_url_round_trip_grants_app_roles(org: Org) -> None:
    auth = org.auth()
    url = auth.admin_consent_url(tenant=None, redirect_uri=REDIRECT, state="adm-1")
    assert url.startswith(f"{org.base_url}/organizations/v2.0/adminconsent?")
    assert query(url) == {
        "client_id": org.app["client_id"],
        "scope": "https://graph.microsoft.com/.default",
        "redirect_uri": REDIRECT,
        "state": "adm-1",
    }
    callback = org.sim.microsoft_sign_in(url, org.admin["mail"])
    params = query(callback)
    assert params["state"] == "adm-1"
    assert auth.parse_admin_consent(params) == (org.tenant["id"], True)
    sp = org.sim.service_principal(org.tenant["id"], org.app["client_id"])
    assert {"Calendars.ReadWrite", "Place.Read.All"} <= set(sp["app_roles"])
    token = auth.app_token(org.tenant["id"])
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["idtyp"] == "app"
    assert "Place.Read.All" in claims["roles"]


def test_admin_consent_cancelled_is_consent_failed(org: Org) -> None:
    auth = org.auth()
    url = auth.admin_consent_url(tenant=org.tenant["id"], redirect_uri=REDIRECT, state="adm-2")
    params = query(org.sim.microsoft_sign_in(url, org.admin["mail"], accept=False))
    with pytest.raises(ConsentFailed) as caught:
        auth.parse_admin_consent(params)
    assert caught.value.error == "access_denied"


def test_service_integration_app_auth_with_its_own_credentials(org: Org) -> None:
    own = org.sim.create_app(
        "Service integration " + uuid.uuid4().hex[:6],
        client_secret="svc-secret",
        application_permissions=["Calendars.ReadWrite"],
    )
    org.sim.grant_consent(org.tenant["id"], own["client_id"], app_roles=["Calendars.ReadWrite"])
    app_auth = MicrosoftAppAuth(
        org.base_url,
        org.tenant["id"],
        own["client_id"],
        "svc-secret",
        org.settings.provider_ca_bundle,
    )
    first = app_auth.token()
    assert app_auth.token().token == first.token  # cached
    assert app_auth.token(force_refresh=True).token != first.token
    wrong = MicrosoftAppAuth(
        org.base_url,
        org.tenant["id"],
        own["client_id"],
        "wrong",
        org.settings.provider_ca_bundle,
    )
    with pytest.raises(ProviderDenied) as caught:
        wrong.token()
    assert caught.value.provider_code == "AADSTS7000215"


def test_withdrawn_consent_needs_a_reconnect_65001(org: Org) -> None:
    blob = org.connect()
    org.sim.revoke_consent(org.tenant["id"], org.app["client_id"], user=org.user["id"])
    with pytest.raises(ReconnectNeeded) as caught:
        org.auth().access_token(blob, force_refresh=True)
    assert caught.value.provider_code == "AADSTS65001"


def test_mfa_required_after_sign_in_needs_a_reconnect_50076(org: Org) -> None:
    blob = org.connect()
    org.sim.set_tenant_policy(org.tenant["id"], mfa_required=True)
    with pytest.raises(ReconnectNeeded) as caught:
        org.auth().access_token(blob, force_refresh=True)
    assert caught.value.provider_code == "AADSTS50076"
    assert caught.value.extra["error"] == "interaction_required"


def test_refresh_token_unused_too_long_needs_a_reconnect_700082(org: Org) -> None:
    blob = org.connect()
    org.sim.identity_settings(refresh_token_max_inactive_seconds=60)
    try:
        org.sim.advance_clock(120)
        with pytest.raises(ReconnectNeeded) as caught:
            org.auth().access_token(blob, force_refresh=True)
    finally:
        org.sim.identity_settings(refresh_token_max_inactive_seconds=90 * 24 * 3600)
    assert caught.value.provider_code == "AADSTS700082"


def test_a_503_from_the_token_endpoint_is_provider_unavailable_not_an_msal_error(
    org: Org,
) -> None:
    # msal raises its own MsalServiceError for a 5xx from the token endpoint (it parses only
    # 2xx-4xx bodies); the adapter must report the outage as one.
    blob = org.connect()
    auth = org.auth()
    app_auth = auth.app_auth(org.tenant["id"])
    org.sim.add_fault_rule(area="identity", unavailable_probability=1.0, retry_after_seconds=120)
    try:
        with pytest.raises(ProviderUnavailable) as delegated:
            auth.access_token(blob, force_refresh=True)
        with pytest.raises(ProviderUnavailable) as app_only:
            app_auth.token(force_refresh=True)
    finally:
        org.sim.clear_faults()
    assert delegated.value.code == app_only.value.code == "provider_unavailable"
    assert delegated.value.status == 503
