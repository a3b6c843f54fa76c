"""Service integrations for Google Workspace, end to end: a service account with domain-wide
delegation, people matched by primary email then alias, sync acting as each person.

Local host + Azurite + simulator + the real google-auth and google-api-python-client: the
service signs JWT assertions with the key the admin entered and acts as the administrator for
the directory and as each person for calendars and push channels.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from shared.providers.google.service_account import SERVICE_SCOPES
from tests.e2e.conftest import Stack
from tests.e2e.service_support import issue_codes, people_view
from tests.e2e.sync_support import ADMIN, HOST_APP, SERVICE, outcomes, put_event, put_people
from tests.e2e.test_calendar_reads import hour, parse, window

CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"


@dataclass
class Workspace:
    """A Google Workspace customer with a delegated service account."""

    domain: str
    admin: str
    key: dict[str, Any]
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    def email(self, local: str) -> str:
        return f"{local}@{self.domain}"


def workspace(stack: Stack, *, scopes: list[str] | None = None) -> Workspace:
    domain = f"gs{secrets.token_hex(4)}.example"
    google = stack.sim.google
    google.add_domain(domain, name="Fabrikam Training")
    admin = f"it@{domain}"
    google.add_user(admin, name="Ida IT", is_admin=True)
    key = google.add_service_account("sync-" + domain.split(".")[0])
    if scopes is None:
        scopes = list(SERVICE_SCOPES)
    if scopes:
        google.grant_delegation(domain, key["client_id"], scopes)
    return Workspace(domain, admin, key)


def add_user(stack: Stack, ws: Workspace, local: str, **options: Any) -> dict[str, Any]:
    user = stack.sim.google.add_user(ws.email(local), name=local.title(), **options)
    ws.users[local] = user
    return user


def create_service(
    stack: Stack, org: str, ws: Workspace, *, name: str = "Instructors"
) -> httpx.Response:
    return stack.call(
        "POST",
        f"orgs/{org}/integrations",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={
            "kind": "service",
            "provider": "google",
            "name": name,
            "credentials": {"service_account_key": ws.key, "admin_email": ws.admin},
        },
    )


def switch(stack: Stack, org: str, integration: str, person: str, on: bool) -> None:
    answer = stack.call(
        "PATCH",
        f"orgs/{org}/integrations/{integration}/people/{person}",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"sync": on},
    )
    assert answer.status_code == 200, answer.text


def ours(stack: Stack, email: str) -> list[dict[str, Any]]:
    """The live events in a person's Google calendar."""
    return [e for e in stack.sim.google.events(email) if e.get("status") != "cancelled"]


def starts(events: list[dict[str, Any]]) -> list[datetime]:
    """Event starts as aware datetimes (Google writes a local time plus its zone)."""
    out = []
    for event in events:
        moment = parse(event["start"]["dateTime"])
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(event["start"].get("timeZone", "UTC")))
        out.append(moment)
    return sorted(out)


def channels_of(stack: Stack, emails: list[str]) -> list[str]:
    wanted = set(emails)
    return sorted(
        c["calendarId"] for c in stack.sim.google.channels() if c["calendarId"] in wanted
    )


def feed(stack: Stack, org: str) -> list[dict[str, Any]]:
    answer = stack.call("GET", f"orgs/{org}/notifications", org=org, sub=HOST_APP, roles=SERVICE)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def busy(stack: Stack, org: str, person: str) -> list[tuple[Any, ...]]:
    answer = stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={"people": person, **window(hour(0), hour(24))},
    )
    assert answer.status_code == 200, answer.text
    (found,) = answer.json()["people"]
    return [(parse(b["start"]), parse(b["end"]), b["source"]) for b in found["busy"]]


def rows_naming(stack: Stack, integration: str) -> list[tuple[str, str, str]]:
    """Every Table row of this run's tables (all of them, scanned) that mentions the id."""
    from azure.data.tables import TableServiceClient

    found = []
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    with service:
        for table in service.list_tables():
            if not table.name.startswith(stack.settings.table_prefix):
                continue
            for entity in service.get_table_client(table.name).list_entities():
                if integration in repr(dict(entity)):
                    found.append((table.name, entity["PartitionKey"], entity["RowKey"]))
    return found


def test_google_service_integration_matches_people_and_syncs_both_ways(
    stack: Stack, org: str
) -> None:
    ws = workspace(stack)
    ann = add_user(stack, ws, "ann", aliases=[ws.email("annie")])
    cy = add_user(stack, ws, "cy")
    add_user(stack, ws, "bo", suspended=True)
    add_user(stack, ws, "dee")
    stack.sim.google.delete_user(ws.email("dee"))
    put_people(
        stack,
        org,
        [
            ("p-ann", "Ann", ws.email("annie")),  # the host app knows her alias
            ("p-cy", "Cy", ws.email("CY")),
            ("p-bo", "Bo", ws.email("bo")),
            ("p-dee", "Dee", ws.email("dee")),
            ("p-nobody", "Nobody", ws.email("nobody")),
        ],
    )

    created = create_service(stack, org, ws)

    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["kind"], body["type"], body["state"]) == ("service", "Google", "Active")
    assert body["check"]["status"] == "passed", body["check"]
    assert issue_codes(body) == {}
    assert ws.key["private_key"] not in created.text
    assert "PRIVATE KEY" not in created.text
    assert body["service"]["credential_type"] == "service_account_key"
    assert body["service"]["settings"]["client_id"] == ws.key["client_id"]
    people = people_view(stack, org, body["id"])
    assert {p: (v["matched"], v.get("reason")) for p, v in people.items()} == {
        "p-ann": (True, None),
        "p-cy": (True, None),
        "p-bo": (False, "disabled"),
        "p-dee": (False, "not_found"),
        "p-nobody": (False, "not_found"),
    }
    assert people["p-ann"]["directory_id"] == ann["id"]
    assert people["p-cy"]["directory_id"] == cy["id"]
    assert {(v["type"], v["integration_status"]) for v in people.values()} == {
        ("Google", "Active")
    }
    stack.host.wait_until_idle()  # first sync of every matched person: a channel each
    assert channels_of(stack, [ws.email("ann"), ws.email("cy")]) == [
        ws.email("ann"),
        ws.email("cy"),
    ]

    # A host-app event reaches every assigned person's calendar at once; a retry adds nothing.
    start, end = hour(9), hour(10)
    assigned = ["p-ann", "p-cy", "p-bo"]
    pushed = put_event(stack, org, "course-1", people=assigned, start=start, end=end)
    assert pushed.status_code in (200, 201), pushed.text
    assert {p: r["status"] for p, r in outcomes(pushed).items()} == {
        "p-ann": "synced",
        "p-cy": "synced",
        "p-bo": "no_calendar",
    }
    again = put_event(stack, org, "course-1", people=assigned, start=start, end=end)
    assert again.status_code in (200, 201), again.text
    stack.host.wait_until_idle()
    for local in ("ann", "cy"):
        assert [e["summary"] for e in ours(stack, ws.email(local))] == ["Shift: front desk"]

    # External events become busy intervals; a person's move of ours reaches the feed.
    stack.sim.google.create_event(
        ws.email("cy"),
        {
            "summary": "Dentist",
            "start": {"dateTime": hour(18).isoformat()},
            "end": {"dateTime": (hour(18) + timedelta(hours=1)).isoformat()},
        },
    )
    (mine,) = ours(stack, ws.email("ann"))
    stack.sim.google.move_event(
        ws.email("ann"), mine["id"], hour(11).isoformat(), hour(12).isoformat()
    )
    stack.sim.google.wait_for_deliveries(1)
    stack.host.wait_until_idle()
    assert (hour(18), hour(19), "calendar") in busy(stack, org, "p-cy")
    moved = [n for n in feed(stack, org) if n["kind"] == "event_moved"]
    assert [(n["data"]["app_event"], n["data"]["person"]) for n in moved] == [
        ("course-1", "p-ann")
    ]
    assert parse(moved[0]["data"]["start"]) == hour(11)


def test_stopping_and_starting_a_persons_sync_resyncs_without_duplicates(
    stack: Stack, org: str
) -> None:
    ws = workspace(stack)
    add_user(stack, ws, "ann")
    put_people(stack, org, [("p-ann", "Ann", ws.email("ann"))])
    created = create_service(stack, org, ws)
    assert created.status_code == 201, created.text
    integration = created.json()["id"]
    stack.host.wait_until_idle()
    pushed = put_event(stack, org, "course-1", people=["p-ann"], start=hour(9), end=hour(10))
    assert outcomes(pushed)["p-ann"]["status"] == "synced"

    switch(stack, org, integration, "p-ann", False)
    stack.host.wait_until_idle()
    assert channels_of(stack, [ws.email("ann")]) == []
    later = put_event(stack, org, "course-2", people=["p-ann"], start=hour(13), end=hour(14))
    assert outcomes(later)["p-ann"]["status"] != "synced"
    assert [e["summary"] for e in ours(stack, ws.email("ann"))] == ["Shift: front desk"]
    assert people_view(stack, org, integration)["p-ann"]["sync"] is False

    switch(stack, org, integration, "p-ann", True)
    stack.host.wait_until_idle()
    events = ours(stack, ws.email("ann"))
    assert starts(events) == [hour(9), hour(13)]
    assert channels_of(stack, [ws.email("ann")]) == [ws.email("ann")]


def test_an_unauthorised_client_id_says_who_must_act_with_the_id_and_scopes(
    stack: Stack, org: str
) -> None:
    ws = workspace(stack, scopes=[CALENDAR_EVENTS])  # the directory scope is missing
    add_user(stack, ws, "ann")
    put_people(stack, org, [("p-ann", "Ann", ws.email("ann"))])

    created = create_service(stack, org, ws)

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "Inactive"
    assert body["check"]["status"] == "failed"
    issue = issue_codes(body)["google.unauthorized_client"]
    assert (issue["check"], issue["severity"], issue["who_must_act"]) == (
        "token",
        "blocks",
        "cloud_admin",
    )
    steps = " ".join(issue["fix"])
    assert ws.key["client_id"] in steps
    assert ",".join(SERVICE_SCOPES) in steps

    # The super admin pastes the list; the rerun passes.
    stack.sim.google.grant_delegation(ws.domain, ws.key["client_id"], list(SERVICE_SCOPES))
    rerun = stack.call(
        "POST", f"orgs/{org}/integrations/{body['id']}/test", org=org, sub="ada", roles=ADMIN
    )
    assert rerun.status_code in (200, 201), rerun.text
    view = stack.call(
        "GET", f"orgs/{org}/integrations/{body['id']}", org=org, sub="ada", roles=ADMIN
    ).json()
    assert view["state"] == "Active", view


def test_a_directory_account_that_is_no_administrator_is_diagnosed(
    stack: Stack, org: str
) -> None:
    ws = workspace(stack)
    add_user(stack, ws, "ann")
    stack.sim.google.update_user(ws.admin, is_admin=False)
    put_people(stack, org, [("p-ann", "Ann", ws.email("ann"))])

    created = create_service(stack, org, ws)

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "Inactive"
    issue = issue_codes(body)["google.directory_not_admin"]
    assert (issue["check"], issue["who_must_act"]) == ("directory", "cloud_admin")
    assert ws.admin in issue["admin_message"]
    assert people_view(stack, org, body["id"])["p-ann"]["matched"] is False


def test_delete_stops_channels_and_leaves_no_row_or_secret(stack: Stack, org: str) -> None:
    ws = workspace(stack)
    add_user(stack, ws, "ann")
    add_user(stack, ws, "cy")
    put_people(
        stack, org, [("p-ann", "Ann", ws.email("ann")), ("p-cy", "Cy", ws.email("cy"))]
    )
    created = create_service(stack, org, ws)
    assert created.status_code == 201, created.text
    integration = created.json()["id"]
    stack.host.wait_until_idle()
    put_event(stack, org, "course-1", people=["p-ann", "p-cy"], start=hour(9), end=hour(10))
    stack.host.wait_until_idle()
    assert len(channels_of(stack, [ws.email("ann"), ws.email("cy")])) == 2
    assert rows_naming(stack, integration)  # the scan below sees this run's rows
    assert any(integration in name for name in stack.services.secrets.names())

    deleted = stack.call(
        "DELETE", f"orgs/{org}/integrations/{integration}", org=org, sub="ada", roles=ADMIN
    )

    assert deleted.status_code in (200, 202, 204), deleted.text
    stack.host.wait_until_idle()
    assert channels_of(stack, [ws.email("ann"), ws.email("cy")]) == []
    assert rows_naming(stack, integration) == []
    assert [n for n in stack.services.secrets.names() if integration in n] == []
    # Events the service created stay in people's calendars by default (decision).
    assert [e["summary"] for e in ours(stack, ws.email("ann"))] == ["Shift: front desk"]


def test_rooms_without_their_scope_only_degrade(stack: Stack, org: str) -> None:
    ws = workspace(stack, scopes=[s for s in SERVICE_SCOPES if "resource" not in s])
    add_user(stack, ws, "ann")
    put_people(stack, org, [("p-ann", "Ann", ws.email("ann"))])

    created = create_service(stack, org, ws)

    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["state"], body["check"]["status"]) == ("Active", "passed")
    assert set(issue_codes(body)) == {"room_listing_not_permitted"}
    assert issue_codes(body)["room_listing_not_permitted"]["severity"] == "degrades"


def rotate(stack: Stack, org: str, integration: str, key: dict[str, Any]) -> Any:
    answer = stack.call(
        "PATCH",
        f"orgs/{org}/integrations/{integration}/credentials",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"credentials": {"service_account_key": key}},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_rotated_key_keeps_every_mapping_and_a_deleted_one_is_refused(
    stack: Stack, org: str
) -> None:
    ws = workspace(stack)
    add_user(stack, ws, "ann")
    put_people(stack, org, [("p-ann", "Ann", ws.email("ann"))])
    created = create_service(stack, org, ws)
    assert created.status_code == 201, created.text
    integration = created.json()["id"]
    stack.host.wait_until_idle()
    put_event(stack, org, "course-1", people=["p-ann"], start=hour(9), end=hour(10))
    before = people_view(stack, org, integration)
    (first,) = ours(stack, ws.email("ann"))

    # A new key of the same service account: same client id, delegation unchanged.
    fresh = stack.sim.google.add_service_account_key(ws.key["client_email"])
    rotated = rotate(stack, org, integration, fresh)
    stack.sim.google.delete_service_account_key(ws.key["client_email"], ws.key["private_key_id"])

    assert (rotated["state"], rotated["check"]["status"]) == ("Active", "passed")
    assert rotated["service"]["settings"]["private_key_id"] == fresh["private_key_id"]
    assert fresh["private_key"] not in str(rotated)
    after = people_view(stack, org, integration)
    assert after["p-ann"]["directory_id"] == before["p-ann"]["directory_id"]
    moved = put_event(stack, org, "course-1", people=["p-ann"], start=hour(11), end=hour(12))
    assert outcomes(moved)["p-ann"]["status"] == "synced"
    (same,) = ours(stack, ws.email("ann"))
    assert same["id"] == first["id"]

    # A key deleted in the Cloud console before it is entered: the check names the fix.
    dead = stack.sim.google.add_service_account_key(ws.key["client_email"])
    stack.sim.google.delete_service_account_key(ws.key["client_email"], dead["private_key_id"])
    refused = rotate(stack, org, integration, dead)
    assert (refused["state"], refused["check"]["status"]) == ("Inactive", "failed")
    issue = issue_codes(refused)["google.service_account_rejected"]
    assert (issue["check"], issue["who_must_act"]) == ("token", "subscription_admin")
    assert refused["service"]["credential_error"] == "google.service_account_rejected"


def test_a_persons_channel_is_renewed_acting_as_that_person(stack: Stack, org: str) -> None:
    ws = workspace(stack)
    add_user(stack, ws, "ann")
    put_people(stack, org, [("p-ann", "Ann", ws.email("ann"))])
    created = create_service(stack, org, ws)
    assert created.status_code == 201, created.text
    stack.host.wait_until_idle()
    (first,) = [c["id"] for c in stack.sim.google.channels() if c["calendarId"] == ws.email("ann")]

    # Channels last GOOGLE_CHANNEL_HOURS (a week); within the last day the cycle renews them.
    stack.clock.advance(timedelta(hours=stack.settings.google_channel_hours - 12))
    stack.host.invoke("sync_cycle")
    stack.host.wait_until_idle(timeout=60)

    (renewed,) = [
        c["id"] for c in stack.sim.google.channels() if c["calendarId"] == ws.email("ann")
    ]
    assert renewed != first


def test_a_malformed_key_or_address_is_a_400_that_never_echoes_the_key(
    stack: Stack, org: str
) -> None:
    ws = workspace(stack)
    garbled = dict(ws.key, private_key=ws.key["private_key"][:200])
    cases = [
        ({"service_account_key": garbled, "admin_email": ws.admin}, "service_account_key"),
        ({"service_account_key": "not json", "admin_email": ws.admin}, "service_account_key"),
        ({"service_account_key": ws.key, "admin_email": "it-at-example"}, "admin_email"),
        ({"service_account_key": ws.key}, "admin_email"),
        ({"admin_email": ws.admin}, "service_account_key"),
    ]
    for credentials, field_name in cases:
        answer = stack.call(
            "POST",
            f"orgs/{org}/integrations",
            org=org,
            sub="ada",
            roles=ADMIN,
            json={"kind": "service", "provider": "google", "credentials": credentials},
        )
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "PRIVATE KEY" not in answer.text
        assert ws.key["private_key"][40:80] not in answer.text
        assert field_name in answer.text, answer.text
    listed = stack.call("GET", f"orgs/{org}/integrations", org=org, sub="ada", roles=ADMIN)
    assert listed.json()["items"] == []


def test_a_deleted_persons_account_fails_only_that_person(stack: Stack, org: str) -> None:
    ws = workspace(stack)
    add_user(stack, ws, "ann")
    add_user(stack, ws, "cy")
    put_people(
        stack, org, [("p-ann", "Ann", ws.email("ann")), ("p-cy", "Cy", ws.email("cy"))]
    )
    created = create_service(stack, org, ws)
    assert created.status_code == 201, created.text
    integration = created.json()["id"]
    stack.host.wait_until_idle()

    stack.sim.google.delete_user(ws.email("ann"))
    pushed = put_event(
        stack, org, "course-1", people=["p-ann", "p-cy"], start=hour(9), end=hour(10)
    )
    stack.host.wait_until_idle()

    result = {p: r["status"] for p, r in outcomes(pushed).items()}
    assert result["p-cy"] == "synced"
    assert result["p-ann"] != "synced", result
    assert [e["summary"] for e in ours(stack, ws.email("cy"))] == ["Shift: front desk"]
    view = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}", org=org, sub="ada", roles=ADMIN
    ).json()
    assert view["state"] == "Active"
    assert view["service"].get("credential_error") is None
    assert "credentials_invalid" not in [n["kind"] for n in feed(stack, org)]
