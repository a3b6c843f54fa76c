"""Diagnoses over HTTP name the right person, in the provider's words, with the service's own
client id filled in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from tests.e2e.conftest import GOOGLE_CLIENT_ID, MICROSOFT_CLIENT_ID, RETURN_TO, Stack
from tests.e2e.sync_support import microsoft_workspace, new_person_id
from tests.e2e.test_workspace_microsoft import query


def test_a_microsoft_user_who_cancels_the_sign_in_is_told_to_try_again(
    stack: Stack, org: str
) -> None:
    microsoft_workspace(stack, org)
    person = new_person_id()
    start = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub=person,
        params={"return_to": RETURN_TO},
    )
    assert start.status_code == 302, start.text
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    # The documented redirect when the person cancels at Microsoft's sign-in page.
    back = stack.http.get(
        "/api/oauth/microsoft/callback?"
        + urlencode(
            {
                "state": state,
                "error": "access_denied",
                "error_description": "the user canceled the authentication",
            }
        )
    )
    assert back.status_code == 302, back.text
    assert query(back.headers["location"]) == {
        "calendar": "error",
        "code": "microsoft.access_denied",
    }
    shown = stack.call("GET", "diagnostics/microsoft.access_denied", org=org, sub=person).json()
    assert shown["who_must_act"] == "user"
    assert "again" in shown["user_message"] and "Google" not in shown["contact"]


def test_diagnoses_carry_the_services_client_id_and_the_right_person(
    stack: Stack, org: str
) -> None:
    google = stack.call("GET", "diagnostics/google.admin_policy_enforced", org=org, sub="x").json()
    assert any(GOOGLE_CLIENT_ID in step for step in google["fix"])
    assert "Microsoft" not in google["contact"]
    microsoft = stack.call("GET", "diagnostics/AADSTS700016", org=org, sub="x").json()
    assert microsoft["who_must_act"] == "cloud_admin"
    assert MICROSOFT_CLIENT_ID in microsoft["admin_message"]
    assert "Google" not in microsoft["contact"]
    for code in ("google.redirect_uri_mismatch", "google.deleted_client", "AADSTS500113"):
        found = stack.call("GET", f"diagnostics/{code}", org=org, sub="x")
        assert found.status_code == 200 and found.json()["who_must_act"] == "operator", code
