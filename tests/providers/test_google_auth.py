"""Google delegated OAuth through google-auth-oauthlib and google-auth against the simulator:
consent to a grant, granular consent, Workspace policy refusals, refresh, revocation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.errors import ConsentFailed, ReconnectNeeded
from shared.providers.google.auth import GoogleUserTokenSource
from shared.providers.google.calendar import GoogleCalendarClient
from simulator.google.client import GoogleSignInBlocked
from tests.providers.google_support import (
    CALENDAR_EVENTS,
    REDIRECT,
    ROOMS_READONLY,
    Org,
    make_org,
)

pytestmark = pytest.mark.simulator


@pytest.fixture
def org(simulator: Any) -> Iterator[Org]:
    yield from make_org(simulator)


def test_authorization_url_asks_for_offline_access_with_pkce_and_sign_in_scopes(org: Org) -> None:
    start = org.auth().begin(
        redirect_uri=REDIRECT, state="s-1", scopes=[CALENDAR_EVENTS], login_hint=org.ann
    )
    q = {k: v[0] for k, v in parse_qs(urlsplit(start.url).query).items()}
    assert start.url.startswith(org.settings.google_auth_uri + "?")
    assert q["code_challenge_method"] == "S256"
    assert q["access_type"] == "offline"
    assert q["prompt"] == "consent"
    assert q["include_granted_scopes"] == "true"
    assert q["state"] == "s-1"
    assert q["login_hint"] == org.ann
    assert q["scope"].split() == ["openid", "email", CALENDAR_EVENTS]
    json.dumps(start.flow)  # kept in the secret store until the callback: JSON only
    assert start.flow["code_verifier"] and start.flow["redirect_uri"] == REDIRECT


def test_admin_consents_and_the_grant_names_account_domain_and_granted_scopes(org: Org) -> None:
    grant = org.connect(org.admin)
    assert grant.account == org.admin
    assert grant.tenant == org.domain
    assert grant.user_id.isdigit()
    assert grant.display_name == "Ada Admin"
    assert grant.scopes == {"openid", "email", CALENDAR_EVENTS, ROOMS_READONLY}
    blob = json.loads(grant.token_blob)
    assert blob["refresh_token"].startswith("1//")
    assert blob["client_id"] == org.client["client_id"]
    assert "token" not in blob  # the hour-long access token is not persisted


def test_person_unticks_the_rooms_scope_and_the_grant_reports_only_what_was_granted(
    org: Org,
) -> None:
    flow, params = org.sign_in(org.ann, scopes=[CALENDAR_EVENTS])
    grant = org.auth().complete(flow, params)
    assert grant.scopes == {"openid", "email", CALENDAR_EVENTS}
    # The partial grant still refreshes (the stored scopes are the granted ones).
    assert org.auth().access_token(grant.token_blob).token


def test_person_cancels_consent_and_the_callback_is_consent_failed_access_denied(
    org: Org,
) -> None:
    flow, params = org.sign_in(org.ann, accept=False)
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(flow, params)
    assert caught.value.error == "access_denied"
    assert caught.value.provider == "google"


def test_app_blocked_by_the_workspace_admin_is_consent_failed_admin_policy_enforced(
    org: Org,
) -> None:
    org.google.set_app_trust(org.domain, org.client["client_id"], "blocked")
    flow, params = org.sign_in(org.ann)
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(flow, params)
    assert caught.value.error == "admin_policy_enforced"
    assert "restricted by policies within your organization" in str(caught.value.error_description)
    assert caught.value.extra["provider_code"] == "admin_policy_enforced"


def test_limited_trust_refuses_the_rooms_scope_with_admin_policy_enforced(org: Org) -> None:
    org.google.set_app_trust(org.domain, org.client["client_id"], "limited")
    flow, params = org.sign_in(org.admin)
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(flow, params)
    assert caught.value.error == "admin_policy_enforced"
    # Calendar alone is still allowed for an app with limited trust.
    assert org.connect(org.ann, scopes=[CALENDAR_EVENTS]).scopes >= {CALENDAR_EVENTS}


def test_context_aware_access_block_is_consent_failed_access_denied_with_its_reason(
    org: Org,
) -> None:
    org.google.set_policy(org.domain, context_aware_block=True)
    flow, params = org.sign_in(org.ann)
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(flow, params)
    assert caught.value.error == "access_denied"
    assert "context-aware access" in str(caught.value.error_description)


def test_internal_app_of_another_organisation_stops_at_googles_org_internal_page(
    org: Org,
) -> None:
    # Google shows "Error 403: org_internal" itself and never redirects back; when a callback does
    # carry that error it is reported as such.
    home = f"home-{org.domain}"
    org.google.add_domain(home)
    internal = org.google.add_client("Internal", [REDIRECT], internal_domain=home)
    org.client = internal
    start = org.auth().begin(redirect_uri=REDIRECT, state="s", scopes=[CALENDAR_EVENTS])
    internal_url = start.url.replace(org.settings.google_client_id or "", internal["client_id"])
    with pytest.raises(GoogleSignInBlocked) as blocked:
        org.google.sign_in(internal_url, org.ann)
    assert (blocked.value.status, blocked.value.error) == (403, "org_internal")
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(start.flow, {"error": "org_internal", "state": "s"})
    assert caught.value.error == "org_internal"


def test_a_code_redeemed_twice_is_consent_failed_invalid_grant(org: Org) -> None:
    flow, params = org.sign_in(org.ann)
    org.auth().complete(flow, params)
    with pytest.raises(ConsentFailed) as caught:
        org.auth().complete(flow, params)
    assert caught.value.error == "invalid_grant"


def test_stored_grant_refreshes_to_a_working_access_token_without_rotating(org: Org) -> None:
    grant = org.connect(org.ann)
    token = org.auth().access_token(grant.token_blob)
    assert token.updated_blob is None  # Google keeps the refresh token: nothing to persist
    assert token.expires_at.tzinfo is not None
    with GoogleCalendarClient(org.settings, lambda force_refresh=False: token.token) as client:
        assert client.profile().account == org.ann


def test_token_source_caches_until_a_401_forces_a_refresh(org: Org) -> None:
    tokens = GoogleUserTokenSource(org.auth(), org.connect(org.ann).token_blob)
    first = tokens()
    assert tokens() == first
    forced = tokens(force_refresh=True)
    assert forced != first
    assert tokens() == forced


def test_tokens_revoked_by_the_admin_need_a_reconnect(org: Org) -> None:
    grant = org.connect(org.ann)
    org.google.revoke_user_tokens(org.ann)
    with pytest.raises(ReconnectNeeded) as caught:
        org.auth().access_token(grant.token_blob)
    assert caught.value.provider_code == "invalid_grant"


def test_revoke_ends_the_grant_and_a_second_revoke_is_fine(org: Org) -> None:
    grant = org.connect(org.ann)
    org.auth().revoke(grant.token_blob)
    with pytest.raises(ReconnectNeeded):
        org.auth().access_token(grant.token_blob)
    org.auth().revoke(grant.token_blob)  # already revoked: 400 invalid_token counts as done
