"""A person connects their own mailbox, from their own browser: the consenting account must be
the person's (when the host app gave their email), the provider is asked to let them pick the
account, and the callback must carry the cookie set when they started."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.e2e.conftest import RETURN_TO, Stack
from tests.e2e.sync_support import (
    ADMIN,
    google_workspace,
    microsoft_workspace,
    new_person_id,
    put_people,
)
from tests.e2e.test_workspace_microsoft import query


def start(stack: Stack, org: str, person: str, **headers: str) -> httpx.Response:
    response = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub=person,
        params={"return_to": RETURN_TO},
        headers=headers,
    )
    assert response.status_code in (200, 302), response.text
    return response


def authorize_query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_colleagues_mailbox_cannot_be_attached_to_my_identity(stack: Stack, org: str) -> None:
    workspace = microsoft_workspace(stack, org)
    mine, colleagues = workspace.tenant.users
    person = new_person_id()
    put_people(stack, org, [(person, "Person", mine.upper())])  # case does not matter

    started = start(stack, org, person)
    asked = authorize_query(started.headers["location"])
    assert asked["prompt"] == "select_account" and asked["login_hint"] == mine.upper()
    # The person signs in with the colleague's account (say, a shared computer).
    back = stack.follow_callback(
        stack.sim.microsoft_sign_in(started.headers["location"], colleagues)
    )
    assert query(back.headers["location"]) == {"calendar": "error", "code": "account_mismatch"}
    status = stack.call("GET", f"orgs/{org}/me/calendar", org=org, sub=person)
    assert status.status_code == 404
    listed = stack.call(
        "GET",
        f"orgs/{org}/integrations/{workspace.integration}/people",
        org=org,
        sub="ada",
        roles=ADMIN,
    ).json()["items"]
    assert [(p["person"], p["last_error"]) for p in listed] == [(person, "account_mismatch")]

    again = start(stack, org, person)
    back = stack.follow_callback(stack.sim.microsoft_sign_in(again.headers["location"], mine))
    assert query(back.headers["location"]) == {"calendar": "connected"}


def test_google_asks_to_pick_the_account_and_still_for_consent(stack: Stack, org: str) -> None:
    workspace = google_workspace(stack, org)
    mine, colleagues = workspace.domain.users
    person = new_person_id()
    put_people(stack, org, [(person, "Person", mine)])
    started = start(stack, org, person)
    asked = authorize_query(started.headers["location"])
    assert set(asked["prompt"].split()) == {"select_account", "consent"}
    assert asked["login_hint"] == mine
    back = stack.follow_callback(stack.sim.google.sign_in(started.headers["location"], colleagues))
    assert query(back.headers["location"]) == {"calendar": "error", "code": "account_mismatch"}


def test_the_sign_in_must_finish_in_the_browser_that_started_it(stack: Stack, org: str) -> None:
    workspace = microsoft_workspace(stack, org)
    person = new_person_id()
    started = start(stack, org, person)
    cookie = started.headers["set-cookie"]
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "Path=/api/oauth/" in cookie and "SameSite=Lax" in cookie
    callback = stack.sim.microsoft_sign_in(started.headers["location"], workspace.tenant.users[0])

    # The provider's redirect lands in another browser (no cookie): refused.
    with httpx.Client(base_url=stack.host.base_url, trust_env=False) as other_browser:
        back = other_browser.get(callback.removeprefix(stack.host.base_url))
    assert query(back.headers["location"]) == {
        "calendar": "error",
        "code": "sign_in_browser_mismatch",
    }
    assert stack.call("GET", f"orgs/{org}/me/calendar", org=org, sub=person).status_code == 404

    # The JSON variant (single-page apps) binds the browser the same way.
    json_start = start(stack, org, person, accept="application/json")
    assert "set-cookie" in json_start.headers
    location = json_start.json()["redirect_to"]
    callback = stack.sim.microsoft_sign_in(location, workspace.tenant.users[0])
    back = stack.follow_callback(callback)  # the browser that started it
    assert query(back.headers["location"]) == {"calendar": "connected"}
    assert "Max-Age=0" in back.headers["set-cookie"]  # the cookie is dropped once used
