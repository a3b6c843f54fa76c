"""Google OAuth against the simulator with the real libraries (google-auth-oauthlib, google-auth).

Scenarios: consent and code exchange with PKCE, granular (partial) consent, refresh without
rotation, revocation, cancel, and the Workspace policy errors (untrusted app, internal app,
context-aware access).
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow

from simulator.google.client import GoogleControl, GoogleSignInBlocked
from simulator.server import SimulatorServer

CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
ROOMS_READONLY = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
REDIRECT = "https://app.example/api/oauth/google/callback"


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorServer:
    """The shared simulator (tests/conftest.py); each test works in a domain of its own."""
    return simulator


@pytest.fixture
def google(sim: SimulatorServer) -> Iterator[GoogleControl]:
    context = ssl.create_default_context(cafile=str(sim.certs.ca))
    with httpx.Client(base_url=sim.base_url, verify=context) as http:
        yield GoogleControl(http)


@pytest.fixture
def org(google: GoogleControl) -> dict[str, str]:
    """A fresh domain with an admin, a person and a trusted OAuth client."""
    domain = f"org{uuid.uuid4().hex[:8]}.example"
    google.add_domain(domain, name="Contoso Schools")
    google.add_user(f"admin@{domain}", is_admin=True)
    google.add_user(f"ann@{domain}")
    client = google.add_client("Scheduler", [REDIRECT])
    google.set_app_trust(domain, client["client_id"], "trusted")
    return {"domain": domain, **client}


def make_flow(sim: SimulatorServer, org: dict[str, str], scopes: list[str]) -> Flow:
    config = {
        "web": {
            "client_id": org["client_id"],
            "client_secret": org["client_secret"],
            "auth_uri": org["auth_uri"],
            "token_uri": org["token_uri"],
            "redirect_uris": [REDIRECT],
        }
    }
    flow = Flow.from_client_config(config, scopes=scopes, redirect_uri=REDIRECT)
    # REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, when set, override Session.verify unless the session
    # ignores the environment.
    flow.oauth2session.trust_env = False
    flow.oauth2session.verify = str(sim.certs.ca)
    return flow


def requests_session(sim: SimulatorServer) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sim.certs.ca)
    return session


def test_person_consents_and_the_app_gets_refreshable_tokens(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    flow = make_flow(sim, org, ["openid", "email", CALENDAR_EVENTS])
    url, state = flow.authorization_url(access_type="offline", prompt="consent")
    assert "code_challenge_method=S256" in url

    redirect = google.sign_in(url, f"ann@{org['domain']}")
    query = parse_qs(urlsplit(redirect).query)
    assert query["state"] == [state]
    assert query["hd"] == [org["domain"]]

    token = flow.fetch_token(authorization_response=redirect)
    assert token["token_type"] == "Bearer"
    assert set(token["scope"]) == {"openid", "email", CALENDAR_EVENTS}
    claims = jwt.decode(token["id_token"], options={"verify_signature": False})
    assert claims["email"] == f"ann@{org['domain']}"
    assert claims["aud"] == org["client_id"]
    assert claims["hd"] == org["domain"]

    creds = flow.credentials
    first_refresh_token = creds.refresh_token
    creds.refresh(GoogleRequest(requests_session(sim)))
    assert creds.valid
    assert creds.refresh_token == first_refresh_token  # Google does not rotate refresh tokens


def test_the_code_is_single_use_and_pkce_is_checked(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    flow = make_flow(sim, org, [CALENDAR_EVENTS])
    url, _ = flow.authorization_url(access_type="offline")
    code = parse_qs(urlsplit(google.sign_in(url, f"ann@{org['domain']}")).query)["code"][0]
    token_uri = org["token_uri"]
    session = requests_session(sim)
    base = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": org["client_id"],
        "client_secret": org["client_secret"],
    }
    wrong = session.post(token_uri, data=base | {"code_verifier": "x" * 50})
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    right = session.post(token_uri, data=base | {"code_verifier": flow.code_verifier})
    assert right.status_code == 200
    again = session.post(token_uri, data=base | {"code_verifier": flow.code_verifier})
    assert again.json()["error"] == "invalid_grant"


def test_person_unticks_a_scope_and_only_the_rest_is_granted(
    sim: SimulatorServer,
    google: GoogleControl,
    org: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # oauthlib refuses a changed scope unless relaxed; an app must accept partial grants.
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    flow = make_flow(sim, org, ["openid", CALENDAR_EVENTS, ROOMS_READONLY])
    url, _ = flow.authorization_url(access_type="offline")
    redirect = google.sign_in(url, f"admin@{org['domain']}", scopes=[CALENDAR_EVENTS])
    assert parse_qs(urlsplit(redirect).query)["scope"] == [f"openid {CALENDAR_EVENTS}"]
    token = flow.fetch_token(authorization_response=redirect)
    assert set(token["scope"]) == {"openid", CALENDAR_EVENTS}


def test_revoked_refresh_token_fails_with_invalid_grant(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    flow = make_flow(sim, org, [CALENDAR_EVENTS])
    url, _ = flow.authorization_url(access_type="offline")
    flow.fetch_token(authorization_response=google.sign_in(url, f"ann@{org['domain']}"))
    creds: Credentials = flow.credentials
    session = requests_session(sim)
    revoked = session.post(f"{sim.base_url}/google/revoke", data={"token": creds.refresh_token})
    assert revoked.status_code == 200
    with pytest.raises(RefreshError) as caught:
        creds.refresh(GoogleRequest(session))
    assert "invalid_grant" in str(caught.value)
    assert "Token has been expired or revoked." in str(caught.value)


def test_admin_revoking_the_users_tokens_kills_access_tokens(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    flow = make_flow(sim, org, [CALENDAR_EVENTS])
    url, _ = flow.authorization_url(access_type="offline")
    token = flow.fetch_token(authorization_response=google.sign_in(url, f"ann@{org['domain']}"))
    session = requests_session(sim)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    events_url = f"{sim.base_url}/google/calendar/v3/calendars/primary/events"
    assert session.get(events_url, headers=headers).status_code == 200
    assert google.revoke_user_tokens(f"ann@{org['domain']}") == 1
    denied = session.get(events_url, headers=headers)
    assert denied.status_code == 401
    assert denied.json()["error"]["errors"][0]["reason"] == "authError"


def test_person_cancels_consent_and_the_app_gets_access_denied(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    flow = make_flow(sim, org, [CALENDAR_EVENTS])
    url, state = flow.authorization_url()
    redirect = google.sign_in(url, f"ann@{org['domain']}", accept=False)
    assert redirect.startswith(REDIRECT + "?")
    assert parse_qs(urlsplit(redirect).query) == {"error": ["access_denied"], "state": [state]}


def test_app_blocked_by_workspace_admin_redirects_with_admin_policy_enforced(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    google.set_app_trust(org["domain"], org["client_id"], "blocked")
    flow = make_flow(sim, org, [CALENDAR_EVENTS])
    url, state = flow.authorization_url()
    query = parse_qs(urlsplit(google.sign_in(url, f"ann@{org['domain']}")).query)
    assert query["error"] == ["admin_policy_enforced"]
    assert query["state"] == [state]
    assert "restricted by policies within your organization" in query["error_description"][0]


def test_app_blocked_by_workspace_admin_can_show_googles_block_page(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    google.set_policy(org["domain"], app_trust={org["client_id"]: "blocked"}, block_response="page")
    url, _ = make_flow(sim, org, [CALENDAR_EVENTS]).authorization_url()
    with pytest.raises(GoogleSignInBlocked) as caught:
        google.sign_in(url, f"ann@{org['domain']}")
    assert caught.value.status == 400
    assert caught.value.error == "admin_policy_enforced"
    assert "Contoso Schools has not granted access to this app" in caught.value.page


def test_limited_trust_allows_calendar_but_not_the_admin_directory(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    google.set_app_trust(org["domain"], org["client_id"], "limited")
    calendar_only = make_flow(sim, org, [CALENDAR_EVENTS]).authorization_url()[0]
    assert "code=" in google.sign_in(calendar_only, f"admin@{org['domain']}")
    with_rooms = make_flow(sim, org, [CALENDAR_EVENTS, ROOMS_READONLY]).authorization_url()[0]
    assert "error=admin_policy_enforced" in google.sign_in(with_rooms, f"admin@{org['domain']}")


def test_unconfigured_app_is_blocked_when_the_domain_blocks_unconfigured_apps(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    google.set_policy(
        org["domain"], app_trust={org["client_id"]: "unconfigured"}, block_unconfigured_apps=True
    )
    url = make_flow(sim, org, [CALENDAR_EVENTS]).authorization_url()[0]
    assert "error=admin_policy_enforced" in google.sign_in(url, f"ann@{org['domain']}")


def test_internal_app_used_by_an_outside_user_shows_org_internal(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    home = f"home{uuid.uuid4().hex[:8]}.example"
    google.add_domain(home)
    internal = google.add_client("Internal tool", [REDIRECT], internal_domain=home)
    url = make_flow(sim, internal | {"domain": home}, [CALENDAR_EVENTS]).authorization_url()[0]
    with pytest.raises(GoogleSignInBlocked) as caught:
        google.sign_in(url, f"ann@{org['domain']}")
    assert (caught.value.status, caught.value.error) == (403, "org_internal")


def test_context_aware_access_block_reaches_the_app_as_access_denied(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    google.set_policy(org["domain"], context_aware_block=True)
    url, state = make_flow(sim, org, [CALENDAR_EVENTS]).authorization_url()
    query = parse_qs(urlsplit(google.sign_in(url, f"ann@{org['domain']}")).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == [state]
    assert "context-aware access" in query["error_description"][0]


def test_unregistered_redirect_uri_is_an_error_page_not_a_redirect(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    flow = make_flow(sim, org, [CALENDAR_EVENTS])
    flow.redirect_uri = "https://evil.example/callback"
    with pytest.raises(GoogleSignInBlocked) as caught:
        google.sign_in(flow.authorization_url()[0], f"ann@{org['domain']}")
    assert (caught.value.status, caught.value.error) == (400, "redirect_uri_mismatch")


def test_wrong_client_secret_is_invalid_client(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    response = requests_session(sim).post(
        org["token_uri"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": "1//nothing",
            "client_id": org["client_id"],
            "client_secret": "wrong",
        },
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": "Unauthorized"}


def test_incremental_authorization_keeps_earlier_scopes(
    sim: SimulatorServer,
    google: GoogleControl,
    org: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    first = make_flow(sim, org, [CALENDAR_EVENTS])
    url = first.authorization_url(access_type="offline")[0]
    first.fetch_token(authorization_response=google.sign_in(url, f"admin@{org['domain']}"))
    without = make_flow(sim, org, [ROOMS_READONLY])
    url = without.authorization_url(access_type="offline")[0]
    token = without.fetch_token(
        authorization_response=google.sign_in(url, f"admin@{org['domain']}")
    )
    assert set(token["scope"]) == {ROOMS_READONLY}
    more = make_flow(sim, org, [ROOMS_READONLY])
    url = more.authorization_url(access_type="offline", include_granted_scopes="true")[0]
    token = more.fetch_token(authorization_response=google.sign_in(url, f"admin@{org['domain']}"))
    assert set(token["scope"]) == {ROOMS_READONLY, CALENDAR_EVENTS}


def test_id_token_verifies_against_the_published_keys(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    session = requests_session(sim)
    config = session.get(f"{sim.base_url}/google/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == org["token_uri"]
    token = google.consent_tokens(org, f"ann@{org['domain']}", ["openid", "email"])
    keys = jwt.PyJWKSet.from_dict(session.get(config["jwks_uri"]).json())
    signing_key = keys[jwt.get_unverified_header(token["id_token"])["kid"]]
    # Times follow the simulated clock, which other tests may have moved: check them against it.
    claims = jwt.decode(
        token["id_token"],
        signing_key.key,
        algorithms=["RS256"],
        audience=org["client_id"],
        options={"verify_iat": False, "verify_nbf": False, "verify_exp": False},
    )
    assert claims["iat"] <= sim.world.timestamp() < claims["exp"]
    assert claims["iss"] == config["issuer"]
    info = session.get(
        config["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}
    ).json()
    assert info["email"] == claims["email"] == f"ann@{org['domain']}"
    assert info["sub"] == claims["sub"]


def test_authorization_code_expires_after_ten_minutes(
    sim: SimulatorServer, google: GoogleControl, org: dict[str, str]
) -> None:
    flow = make_flow(sim, org, [CALENDAR_EVENTS])
    url, _ = flow.authorization_url()
    code = parse_qs(urlsplit(google.sign_in(url, f"ann@{org['domain']}")).query)["code"][0]
    sim.world.advance(601)
    try:
        answer = requests_session(sim).post(
            org["token_uri"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": flow.code_verifier,
                "client_id": org["client_id"],
                "client_secret": org["client_secret"],
            },
        )
    finally:
        sim.world.advance(-601)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
