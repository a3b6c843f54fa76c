"""Disable, re-enable within retention, purge after it; state and return_to safety; privacy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from azure.data.tables import TableServiceClient

from tests.e2e.conftest import RETURN_TO, Stack
from tests.e2e.tenants import (
    SECRET_BODY,
    SECRET_SUBJECT,
    grant_room_listing,
    microsoft_org,
    put_secret_meeting_in_outlook,
)
from tests.e2e.test_workspace_microsoft import connect, create_and_test, enable, query

ADMIN = ("admin",)


def all_entities(stack: Stack) -> list[dict[str, Any]]:
    """Every entity of every table this run wrote (the service's tables share a prefix)."""
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    found = []
    for table in service.list_tables():
        if table.name.startswith(stack.settings.table_prefix):
            found += [dict(e) for e in service.get_table_client(table.name).list_entities()]
    return found


def mentions(entities: list[dict[str, Any]], needle: str) -> list[dict[str, Any]]:
    return [e for e in entities if any(needle in str(v) for v in e.values())]


def test_disable_reenable_within_retention_then_purge_after_it(stack: Stack, org: str) -> None:
    tenant = microsoft_org(stack)
    integration = create_and_test(stack, org, "ada", tenant.it_admin, consent_for_org=True)
    enable(stack, org, integration)
    assert connect(stack, org, "bob", tenant.users[0]) == {"calendar": "connected"}
    room = stack.call(
        "PUT",
        f"orgs/{org}/rooms/aurora",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"name": "Aurora", "email": f"room-aurora@{tenant.domain}"},
    )
    assert room.json()["paired"] is True

    refused = stack.call(
        "POST", f"orgs/{org}/integrations/{integration}/disable", org=org, sub="ada", roles=ADMIN
    )
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "confirmation_required"
    assert any("unpaired" in c for c in problem["consequences"])
    assert any("can no longer connect" in c for c in problem["consequences"])

    disabled = stack.call(
        "POST",
        f"orgs/{org}/integrations/{integration}/disable",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"confirm": True},
    ).json()
    assert disabled["status"] == "disabled"
    rooms = stack.call("GET", f"orgs/{org}/rooms", org=org, sub="ada", roles=ADMIN).json()["items"]
    assert [(r["paired"], r["email"]) for r in rooms] == [(False, f"room-aurora@{tenant.domain}")]
    # While disabled, users can no longer connect.
    blocked = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub="bob",
        params={"return_to": RETURN_TO},
    )
    assert (blocked.status_code, blocked.json()["code"]) == (409, "no_active_integration")

    stack.clock.advance(timedelta(days=4, hours=23))
    enable(stack, org, integration)
    status = stack.call("GET", f"orgs/{org}/me/calendar", org=org, sub="bob").json()
    assert status["status"] == "connected"
    again = stack.call(
        "GET",
        f"orgs/{org}/me/calendar/connect",
        org=org,
        sub="bob",
        params={"return_to": RETURN_TO},
    )
    assert again.headers["location"] == f"{RETURN_TO}?calendar=connected"

    stack.call(
        "POST",
        f"orgs/{org}/integrations/{integration}/disable",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"confirm": True},
    )
    stack.clock.advance(timedelta(days=5, minutes=1))
    stack.host.invoke("consent_purge")

    assert mentions(all_entities(stack), integration) == []
    leftover = [n for n in stack.services.secrets.names() if integration in n]
    assert leftover == []
    gone = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}", org=org, sub="ada", roles=ADMIN
    )
    assert gone.status_code == 404
    # The room's information outlives the integration; only the pairing went.
    rooms = stack.call("GET", f"orgs/{org}/rooms", org=org, sub="ada", roles=ADMIN).json()["items"]
    assert [r["email"] for r in rooms] == [f"room-aurora@{tenant.domain}"]


def test_forged_replayed_and_expired_states_are_refused(stack: Stack, org: str) -> None:
    tenant = microsoft_org(stack)
    integration = create_and_test(stack, org, "ada", tenant.it_admin, consent_for_org=True)
    enable(stack, org, integration)

    def start(sub: str, email: str) -> str:
        response = stack.call(
            "GET",
            f"orgs/{org}/me/calendar/connect",
            org=org,
            sub=sub,
            params={"return_to": RETURN_TO},
        )
        return stack.sim.microsoft_sign_in(response.headers["location"], email)

    callback = start("bob", tenant.users[0])
    state = query(callback)["state"]
    forged = callback.replace(
        state, state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    )
    refused = stack.follow_callback(forged)
    assert refused.status_code == 400
    assert "text/html" in refused.headers["content-type"]
    assert "could not be verified" in refused.text

    assert stack.follow_callback(callback).status_code == 302  # the genuine one works once
    replayed = stack.follow_callback(callback)
    assert replayed.status_code == 400
    assert "already" in replayed.text

    late = start("carol", tenant.users[1])
    stack.clock.advance(timedelta(minutes=11))
    expired = stack.follow_callback(late)
    assert expired.status_code == 400
    assert "took too long" in expired.text


def test_return_to_outside_the_allow_list_is_refused(stack: Stack, org: str) -> None:
    for target in ("https://evil.example/settings", "https://app.example/settings.evil.example"):
        response = stack.call(
            "GET",
            f"orgs/{org}/me/calendar/connect",
            org=org,
            sub="bob",
            params={"return_to": target},
        )
        assert response.status_code == 400
        assert response.json()["code"] == "return_to_not_allowed"


def test_no_calendar_content_is_stored_anywhere(stack: Stack, org: str) -> None:
    tenant = microsoft_org(stack)
    grant_room_listing(stack, tenant)
    put_secret_meeting_in_outlook(stack, tenant.it_admin)
    put_secret_meeting_in_outlook(stack, tenant.users[0])
    integration = create_and_test(stack, org, "ada", tenant.it_admin, consent_for_org=True)
    preview = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}/test", org=org, sub="ada", roles=ADMIN
    ).json()["preview"]
    assert preview["subject"] == SECRET_SUBJECT  # it was read live...
    enable(stack, org, integration)
    connect(stack, org, "bob", tenant.users[0])

    entities = all_entities(stack)  # ...and is nowhere at rest
    for needle in (SECRET_SUBJECT, SECRET_BODY, "Northwind", "cfo@northwind.example"):
        assert mentions(entities, needle) == [], needle
