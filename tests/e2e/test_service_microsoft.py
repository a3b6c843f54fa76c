"""Service integrations for Microsoft 365, end to end: the customer's own app registration with
application permissions, people matched by email, sync without per-user consent.

Local host + Azurite + simulator + the real msal: the service obtains app-only tokens from the
simulated identity platform with the secret (or certificate) the admin entered.
"""

from __future__ import annotations

from tests.e2e.conftest import Stack
from tests.e2e.service_support import (
    add_user,
    create_service,
    issue_codes,
    people_view,
    service_tenant,
)
from tests.e2e.sync_support import ADMIN, outcomes, put_event, put_people


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
