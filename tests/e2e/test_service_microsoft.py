"""Service integrations for Microsoft 365, end to end: the customer's own app registration with
application permissions, people matched by email, sync without per-user consent.

Local host + Azurite + simulator + the real msal: the service obtains app-only tokens from the
simulated identity platform with the secret (or certificate) the admin entered.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import NotFound
from shared.http.flows import consent_context, service_integrations
from shared.sync import subscriptions
from shared.sync.calendars import CalendarRef, calendars_of, person_calendar, resolve
from tests.e2e.conftest import Stack
from tests.e2e.service_support import (
    ServiceTenant,
    add_user,
    create_service,
    issue_codes,
    people_view,
    self_signed_certificate,
    service_tenant,
)
from tests.e2e.sync_support import (
    ADMIN,
    HOST_APP,
    SERVICE,
    connect_microsoft,
    event_times,
    microsoft_workspace,
    outcomes,
    put_event,
    put_people,
)
from tests.e2e.test_calendar_reads import dtz, parse, window
from tests.e2e.test_workspace_lifecycle import all_entities, mentions


def test_admin_creates_a_service_integration_people_are_matched_and_events_pushed_once(
    stack: Stack, org: str
) -> None:
    tenant = service_tenant(stack)
    ada = add_user(stack, tenant, "ada")
    # Bob's mail differs from his sign-in name; the host app knows the sign-in name.
    bob = add_user(stack, tenant, "bob", mail=tenant.email("robert"))
    carol = add_user(
        stack,
        tenant,
        "carol",
        proxy_addresses=[f"SMTP:carol@{tenant.domain}", f"smtp:c.jones@{tenant.domain}"],
    )
    add_user(stack, tenant, "dup1", mail=tenant.email("desk"))
    add_user(stack, tenant, "dup2", mail=tenant.email("desk"))
    add_user(stack, tenant, "onprem", has_mailbox=False)
    outsider = add_user(stack, tenant, "outsider")
    add_user(stack, tenant, "visitor", user_type="Guest")
    in_scope = [u["id"] for k, u in tenant.users.items() if k != "outsider"]
    stack.sim.set_mailbox_scope(tenant.tenant_id, tenant.client_id, in_scope)
    put_people(
        stack,
        org,
        [
            ("p-ada", "Ada", tenant.email("ADA")),
            ("p-bob", "Bob", tenant.email("bob")),
            ("p-carol", "Carol", tenant.email("c.jones")),
            ("p-desk", "Front desk", tenant.email("desk")),
            ("p-onprem", "On prem", tenant.email("onprem")),
            ("p-outsider", "Outsider", outsider["mail"]),
            ("p-visitor", "Visitor", tenant.email("visitor")),
            ("p-nobody", "Nobody", tenant.email("nobody")),
        ],
    )

    created = create_service(stack, org, tenant)

    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["kind"], body["type"], body["state"]) == (
        "service",
        "Microsoft Exchange",
        "Active",
    )
    assert body["check"]["status"] == "passed", body["check"]
    assert tenant.secret not in created.text
    assert body["service"]["credential_type"] == "client_secret"
    # Rooms need Place.Read.All, which this app does not have: that only degrades.
    assert set(issue_codes(body)) == {"room_listing_not_permitted"}
    people = people_view(stack, org, body["id"])
    assert {p: (v["matched"], v.get("reason")) for p, v in people.items()} == {
        "p-ada": (True, None),
        "p-bob": (True, None),
        "p-carol": (True, None),
        "p-desk": (False, "ambiguous"),
        "p-onprem": (False, "no_mailbox"),
        "p-outsider": (False, "outside_scope"),
        "p-visitor": (False, "guest"),
        "p-nobody": (False, "not_found"),
    }
    assert people["p-ada"]["directory_id"] == ada["id"]
    assert people["p-bob"]["directory_id"] == bob["id"]
    assert people["p-carol"]["directory_id"] == carol["id"]
    assert {
        (v["type"], v["integration_name"], v["integration_status"]) for v in people.values()
    } == {("Microsoft Exchange", "Instructors", "Active")}
    # A person the host app adds later is matched when it puts them, and synced at once.
    eve = add_user(stack, tenant, "eve")
    stack.sim.set_mailbox_scope(tenant.tenant_id, tenant.client_id, [*in_scope, eve["id"]])
    added = put_people(stack, org, [("p-eve", "Eve", eve["mail"])])
    assert added["people"] == [{"id": "p-eve", "calendar": True, "provider": "microsoft"}]
    assert people_view(stack, org, body["id"])["p-eve"]["directory_id"] == eve["id"]
    listed = stack.call("GET", f"orgs/{org}/integrations", org=org, sub="ada", roles=ADMIN)
    (item,) = listed.json()["items"]
    assert (item["name"], item["type"], item["state"]) == (
        "Instructors",
        "Microsoft Exchange",
        "Active",
    )
    stack.host.wait_until_idle()  # the first sync of every matched person (subscriptions)

    pushed = put_event(stack, org, "course-1", people=["p-ada", "p-bob", "p-carol", "p-desk"])
    assert pushed.status_code in (200, 201), pushed.text
    result = outcomes(pushed)
    assert {p: result[p]["status"] for p in result} == {
        "p-ada": "synced",
        "p-bob": "synced",
        "p-carol": "synced",
        "p-desk": "no_calendar",
    }
    again = put_event(stack, org, "course-1", people=["p-ada", "p-bob", "p-carol", "p-desk"])
    assert again.status_code in (200, 201), again.text
    stack.host.wait_until_idle()
    for user in (ada, bob, carol):
        events = [e for e in stack.sim.graph.events(user["id"]) if e["subject"] != "x"]
        assert [e["subject"] for e in events] == ["Shift: front desk"], events


def active_service(
    stack: Stack, org: str, locals_: tuple[str, ...] = ("ada", "bob")
) -> tuple[ServiceTenant, str, dict[str, dict[str, Any]]]:
    """A consented tenant with these users (also the host app's people ``p-<local>``) and an
    Active service integration whose first syncs have run. Returns (tenant, id, users)."""
    tenant = service_tenant(stack)
    users = {local: add_user(stack, tenant, local) for local in locals_}
    put_people(stack, org, [(f"p-{k}", k.title(), u["mail"]) for k, u in users.items()])
    created = create_service(stack, org, tenant)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "Active", created.json()["check"]
    stack.host.wait_until_idle()
    return tenant, created.json()["id"], users


def ours(stack: Stack, user: dict[str, Any], subject: str = "Shift: front desk") -> list[Any]:
    return [e for e in stack.sim.graph.events(user["id"]) if e["subject"] == subject]


def feed(stack: Stack, org: str) -> list[dict[str, Any]]:
    answer = stack.call("GET", f"orgs/{org}/notifications", org=org, sub=HOST_APP, roles=SERVICE)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_a_persons_outlook_changes_reach_the_feed_and_availability(stack: Stack, org: str) -> None:
    _, _, users = active_service(stack, org)
    ada = users["ada"]
    start, end = event_times(hours_from_now=30)
    assert (
        outcomes(put_event(stack, org, "course-1", people=["p-ada"], start=start, end=end))[
            "p-ada"
        ]["status"]
        == "synced"
    )
    (event,) = ours(stack, ada)

    # Ada moves the course in Outlook: Graph notifies the service, which pulls and tells the
    # host app; and she adds a private appointment, which becomes a busy interval.
    stack.sim.graph.move_event(
        ada["id"], event["id"], start + timedelta(hours=1), end + timedelta(hours=1)
    )
    private = stack.sim.graph.create_event(
        ada["id"],
        {
            "subject": "Dentist",
            "start": dtz(start + timedelta(hours=3)),
            "end": dtz(start + timedelta(hours=4)),
        },
    )
    wait_for(lambda: any(n["kind"] == "event_moved" for n in feed(stack, org)))
    stack.host.wait_until_idle()
    moved = next(n for n in feed(stack, org) if n["kind"] == "event_moved")
    assert (moved["data"]["app_event"], moved["data"]["person"]) == ("course-1", "p-ada")
    answer = stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={
            "people": "p-ada",
            **window(start - timedelta(hours=1), start + timedelta(hours=6)),
        },
    )
    assert answer.status_code == 200, answer.text
    (found,) = answer.json()["people"]
    busy = {(parse(b["start"]), parse(b["end"]), b["source"]) for b in found["busy"]}
    assert (start + timedelta(hours=3), start + timedelta(hours=4), "calendar") in busy
    assert "Dentist" not in answer.text and private["id"] not in answer.text


def test_stopping_one_persons_sync_stops_it_and_starting_resyncs_without_duplicates(
    stack: Stack, org: str
) -> None:
    tenant, integration, users = active_service(stack, org)
    ada = users["ada"]
    put_event(stack, org, "course-1", people=["p-ada", "p-bob"])
    assert any(
        s["resource"].endswith(f"{ada['id']}/events") for s in stack.sim.graph.subscriptions()
    )

    stopped = stack.call(
        "PATCH",
        f"orgs/{org}/integrations/{integration}/people/p-ada",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"sync": False},
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {"id": "p-ada", "sync": False, "matched": True}
    assert not any(
        s["resource"].endswith(f"{ada['id']}/events") for s in stack.sim.graph.subscriptions()
    )
    second = put_event(stack, org, "course-2", people=["p-ada", "p-bob"], subject="Course two")
    assert outcomes(second)["p-ada"]["status"] == "no_calendar"
    assert outcomes(second)["p-bob"]["status"] == "synced"
    assert ours(stack, ada, "Course two") == []
    assert people_view(stack, org, integration)["p-ada"]["sync"] is False

    started = stack.call(
        "PATCH",
        f"orgs/{org}/integrations/{integration}/people/p-ada",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"sync": True},
    )
    assert started.status_code == 200, started.text
    stack.host.wait_until_idle()
    assert len(ours(stack, ada)) == 1
    assert len(ours(stack, ada, "Course two")) == 1
    assert any(
        s["resource"].endswith(f"{ada['id']}/events") for s in stack.sim.graph.subscriptions()
    )
    del tenant


def test_each_credential_failure_has_its_own_issue_with_who_must_act(
    stack: Stack, org: str
) -> None:
    tenant = service_tenant(stack)
    add_user(stack, tenant, "ada")
    outsider = add_user(stack, tenant, "outsider")
    stack.sim.set_mailbox_scope(tenant.tenant_id, tenant.client_id, [tenant.users["ada"]["id"]])
    expired = stack.sim.add_password(tenant.client_id, lifetime_seconds=-60)
    unconsented = service_tenant(stack, consent=False)
    add_user(stack, unconsented, "ada")
    put_people(stack, org, [("p-ada", "Ada", tenant.users["ada"]["mail"])])
    cases = [
        (
            tenant,
            {"client_secret": "not-the-secret-" + tenant.secret[:8]},
            "service.secret_invalid",
            "subscription_admin",
        ),
        (
            tenant,
            {"client_secret": tenant.secret_id},
            "service.secret_id_pasted",
            "subscription_admin",
        ),
        (tenant, {"client_secret": expired["secretText"]}, "service.secret_expired", "cloud_admin"),
        (
            tenant,
            {"tenant_id": str(uuid.uuid4())},
            "service.tenant_not_found",
            "subscription_admin",
        ),
        (tenant, {"client_id": str(uuid.uuid4())}, "service.app_not_found", "subscription_admin"),
        (unconsented, {}, "service.admin_consent_missing", "cloud_admin"),
        (tenant, {"user_id": outsider["mail"]}, "service.mailbox_outside_scope", "cloud_admin"),
    ]
    for case_tenant, overrides, code, who in cases:
        created = create_service(stack, org, case_tenant, name=code, **overrides)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["state"] == "Inactive", (code, body)
        blocking = [i for i in body["check"]["issues"] if i["severity"] == "blocks"]
        assert [i["code"] for i in blocking] == [code], (code, blocking)
        assert blocking[0]["who_must_act"] == who
        assert blocking[0]["fix"] and blocking[0]["admin_message"]
        assert body["service"]["credential_error"] == code
        assert tenant.secret not in created.text and case_tenant.secret not in created.text


def rotate(stack: Stack, org: str, integration: str, **credentials: Any) -> Any:
    answer = stack.call(
        "PATCH",
        f"orgs/{org}/integrations/{integration}/credentials",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"credentials": credentials},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_rotated_secret_keeps_every_mapping_and_an_expired_one_is_told(
    stack: Stack, org: str
) -> None:
    tenant, integration, users = active_service(stack, org)
    put_event(stack, org, "course-1", people=["p-ada", "p-bob"])
    before = people_view(stack, org, integration)
    (first,) = ours(stack, users["ada"])

    fresh = stack.sim.add_password(tenant.client_id)
    rotated = rotate(
        stack, org, integration, client_secret=fresh["secretText"], secret_expires_on="2030-01-31"
    )

    assert rotated["state"] == "Active" and rotated["check"]["status"] == "passed"
    assert rotated["service"]["credential_expires_on"].startswith("2030-01-31")
    assert rotated["service"]["settings"]["client_id"] == tenant.client_id
    after = people_view(stack, org, integration)
    assert {p: v["directory_id"] for p, v in after.items()} == {
        p: v["directory_id"] for p, v in before.items()
    }
    moved_start, moved_end = event_times(hours_from_now=48)
    assert (
        outcomes(
            put_event(
                stack, org, "course-1", people=["p-ada", "p-bob"], start=moved_start, end=moved_end
            )
        )["p-ada"]["status"]
        == "synced"
    )
    (same,) = ours(stack, users["ada"])
    assert same["id"] == first["id"]
    assert fresh["secretText"] not in str(rotated)


def test_delete_leaves_no_row_and_no_secret_and_removes_subscriptions(
    stack: Stack, org: str
) -> None:
    _, integration, users = active_service(stack, org)
    put_event(stack, org, "course-1", people=["p-ada", "p-bob"])
    stack.host.wait_until_idle()
    mailboxes = {u["id"] for u in users.values()}
    assert (
        sum(1 for s in stack.sim.graph.subscriptions() if s["resource"].split("/")[1] in mailboxes)
        == 2
    )
    assert any(integration in name for name in stack.services.secrets.names())

    deleted = stack.call(
        "DELETE", f"orgs/{org}/integrations/{integration}", org=org, sub="ada", roles=ADMIN
    )

    assert deleted.status_code == 204, deleted.text
    assert mentions(all_entities(stack), integration) == []
    assert [n for n in stack.services.secrets.names() if integration in n] == []
    assert not [
        s for s in stack.sim.graph.subscriptions() if s["resource"].split("/")[1] in mailboxes
    ]
    # The events the service created stay in people's calendars (docs/decisions.md).
    assert len(ours(stack, users["ada"])) == 1
    gone = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}", org=org, sub="ada", roles=ADMIN
    )
    assert gone.status_code == 404


def test_the_host_app_is_warned_before_the_secret_expires_and_told_when_it_is_refused(
    stack: Stack, org: str
) -> None:
    tenant = service_tenant(stack)
    add_user(stack, tenant, "ada")
    put_people(stack, org, [("p-ada", "Ada", tenant.users["ada"]["mail"])])
    expires = (stack.clock.now() + timedelta(days=10)).date()
    created = create_service(stack, org, tenant, secret_expires_on=expires.isoformat())
    assert created.json()["state"] == "Active", created.text
    integration = created.json()["id"]
    upkeep = service_integrations(stack.services).upkeep

    upkeep()
    upkeep()
    # Leo joins the directory after the host app listed him: the daily re-match finds him.
    put_people(stack, org, [("p-leo", "Leo", tenant.email("leo"))])
    assert people_view(stack, org, integration)["p-leo"]["reason"] == "not_found"
    add_user(stack, tenant, "leo")
    stack.clock.advance(timedelta(days=4))
    upkeep()
    assert people_view(stack, org, integration)["p-leo"]["matched"] is True
    warnings = [n["data"] for n in feed(stack, org) if n["kind"] == "credentials_expiring"]
    assert [(w["warning"], w["integration_id"]) for w in warnings] == [
        (30, integration),
        (7, integration),
    ]
    assert (
        warnings[1]["days_left"]
        == (datetime.combine(expires, datetime.min.time(), UTC) - stack.clock.now()).days
    )
    health = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}/health", org=org, sub="ada", roles=ADMIN
    )
    assert health.status_code == 200, health.text
    assert health.json()["credential"]["days_to_expiry"] == warnings[1]["days_left"]

    # Someone deletes the secret in the portal: the next check is refused, the host app is
    # told once, and the integration says why it stopped.
    stack.clock.set(datetime.now(UTC))  # back with the simulator's clock for the check
    stack.sim.remove_password(tenant.client_id, tenant.secret_id)
    rerun = stack.call(
        "POST", f"orgs/{org}/integrations/{integration}/test", org=org, sub="ada", roles=ADMIN
    )
    assert rerun.status_code == 200, rerun.text
    assert [i["code"] for i in rerun.json()["result"]["issues"]] == ["service.secret_invalid"]
    (invalid,) = [n["data"] for n in feed(stack, org) if n["kind"] == "credentials_invalid"]
    assert (invalid["integration_id"], invalid["error"]) == (integration, "service.secret_invalid")
    view = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}", org=org, sub="ada", roles=ADMIN
    ).json()
    assert view["state"] == "Inactive"
    assert view["service"]["credential_error"] == "service.secret_invalid"


def test_a_certificate_credential_signs_client_assertions_and_its_expiry_is_shown(
    stack: Stack, org: str
) -> None:
    tenant = service_tenant(stack)
    ada = add_user(stack, tenant, "ada")
    put_people(stack, org, [("p-ada", "Ada", ada["mail"])])
    cert_pem, key_pem, not_after = self_signed_certificate(days=90)
    stack.sim.add_certificate(tenant.client_id, cert_pem)
    # Only the certificate: the secret is gone from the app registration.
    stack.sim.remove_password(tenant.client_id, tenant.secret_id)

    created = create_service(
        stack, org, tenant, client_secret=None, certificate_pem=cert_pem + key_pem
    )

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "Active", body["check"]
    assert body["service"]["credential_type"] == "certificate"
    assert datetime.fromisoformat(body["service"]["credential_expires_on"]) == not_after
    assert "PRIVATE KEY" not in created.text
    stack.host.wait_until_idle()
    assert (
        outcomes(put_event(stack, org, "course-1", people=["p-ada"]))["p-ada"]["status"] == "synced"
    )
    assert len(ours(stack, ada)) == 1

    # A certificate the app registration does not know is refused with its own issue.
    other_cert, other_key, _ = self_signed_certificate()
    rotated = rotate(stack, org, body["id"], certificate_pem=other_cert + other_key)
    assert rotated["state"] == "Inactive"
    assert [i["code"] for i in rotated["check"]["issues"]] == ["service.certificate_invalid"]


def test_a_person_with_a_workspace_connection_and_a_service_match_is_synced_once(
    stack: Stack, org: str
) -> None:
    workspace = microsoft_workspace(stack, org)
    email = workspace.tenant.users[0]
    connect_microsoft(stack, org, "p-zoe", email)
    put_people(stack, org, [("p-zoe", "Zoe", email)])
    tenant = service_tenant(stack, existing=(workspace.tenant.tenant_id, workspace.tenant.domain))
    created = create_service(stack, org, tenant)
    assert created.json()["state"] == "Active", created.text
    stack.host.wait_until_idle()

    pushed = put_event(stack, org, "course-1", people=["p-zoe"])
    stack.host.wait_until_idle()

    assert outcomes(pushed)["p-zoe"]["status"] == "synced"
    mine = [e for e in stack.sim.graph.events(email) if e["subject"] == "Shift: front desk"]
    assert len(mine) == 1
    ctx = consent_context(stack.services)
    ref = person_calendar(ctx, org, "p-zoe")
    assert ref is not None and ref.integration_id == created.json()["id"]
    # The workspace path leaves Zoe alone: the cycle and workers do not sync that calendar.
    integration = ctx.integrations.get(org, workspace.integration)
    assert "p-zoe" not in [r.person for r in calendars_of(ctx, integration)]
    with pytest.raises(NotFound):
        resolve(ctx, org, CalendarRef(org, workspace.integration, "microsoft", "p-zoe").key)


def test_a_workspace_user_is_synced_right_after_connecting(stack: Stack, org: str) -> None:
    workspace = microsoft_workspace(stack, org)
    email = workspace.tenant.users[0]
    put_people(stack, org, [("p-yan", "Yan", email)])
    # Assigned before connecting: waits in the person's partition.
    assert (
        outcomes(put_event(stack, org, "course-1", people=["p-yan"]))["p-yan"]["status"]
        == "no_calendar"
    )

    connect_microsoft(stack, org, "p-yan", email)
    stack.host.wait_until_idle()

    key = CalendarRef(org, workspace.integration, "microsoft", "p-yan").key
    assert subscriptions.current(stack.services.tables, key) is not None
    mine = [e for e in stack.sim.graph.events(email) if e["subject"] == "Shift: front desk"]
    assert len(mine) == 1


def test_delete_on_request_also_removes_the_events_the_service_created(
    stack: Stack, org: str
) -> None:
    _, integration, users = active_service(stack, org)
    put_event(stack, org, "course-1", people=["p-ada", "p-bob"])
    stack.host.wait_until_idle()  # a push the request queued instead of making has landed
    assert people_view(stack, org, integration)["p-ada"]["last_sync"] is not None
    assert len(ours(stack, users["ada"])) == 1

    deleted = stack.call(
        "DELETE",
        f"orgs/{org}/integrations/{integration}",
        org=org,
        sub="ada",
        roles=ADMIN,
        params={"remove_events": "true"},
    )

    assert deleted.status_code == 204, deleted.text
    assert ours(stack, users["ada"]) == [] and ours(stack, users["bob"]) == []
    # Graph tells of the deletions it was asked for; a notification verified while the erase
    # ran leaves a pending-sync marker whose message finds the calendar gone and removes it.
    wait_for(lambda: mentions(all_entities(stack), integration) == [])
