"""What service integrations need from simulated Entra ID and Graph, in Microsoft's shapes:
client secrets with IDs and expiry, the users listing and its filters, mailboxes without Exchange
Online, and an application access policy.

Sources: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
(token errors), https://learn.microsoft.com/graph/api/user-list (filters, paging),
https://learn.microsoft.com/graph/auth-limit-mailbox-access ("Access to OData is disabled.").
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from simulator.client import SimulatorClient
from simulator.microsoft.directory import ServicePrincipal
from tests.simulator import graph_support
from tests.simulator.graph_support import CLIENT_ID, GraphSim, Org

graph_sim = graph_support.graph_sim
org = graph_support.org


def _token(graph_sim: GraphSim, tenant: str, client_id: str, secret: str) -> httpx.Response:
    with graph_sim.http() as http:
        return http.post(
            f"{graph_sim.base_url}/{tenant}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )


def test_an_expired_secret_and_a_secret_id_are_refused_with_their_codes(
    graph_sim: GraphSim, org: Org
) -> None:
    with SimulatorClient(graph_sim.base_url, graph_sim.ca) as sim:
        client_id = str(uuid.uuid4())
        sim.create_app("svc", client_id=client_id, home_tenant_id=org.tenant.id)
        good = sim.add_password(client_id)
        expired = sim.add_password(client_id, lifetime_seconds=-1)

        ok = _token(graph_sim, org.tenant.id, client_id, good["secretText"])
        old = _token(graph_sim, org.tenant.id, client_id, expired["secretText"])
        pasted_id = _token(graph_sim, org.tenant.id, client_id, good["keyId"])

    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    assert len(good["secretText"]) == 40 and good["keyId"] != good["secretText"]
    for answer, code in ((old, 7000222), (pasted_id, 7000215)):
        body = answer.json()
        assert answer.status_code == 401
        assert body["error"] == "invalid_client" and body["error_codes"] == [code]
        assert body["error_description"].startswith(f"AADSTS{code}: ")


def _graph(graph_sim: GraphSim, token: str, path: str, **params: str) -> httpx.Response:
    with graph_sim.http(token) as http:
        return http.get(f"{graph_sim.graph}/{path}", params=params)


def test_users_filter_on_aliases_and_page_with_a_next_link(graph_sim: GraphSim, org: Org) -> None:
    with org.world.lock:
        org.bob.proxy_addresses = ["SMTP:" + org.bob.mail, "smtp:bobby@" + org.tenant.domains[0]]
    token = org.app_only("User.Read.All")

    alias = _graph(
        graph_sim,
        token,
        "users",
        **{
            "$filter": f"proxyAddresses/any(x:x eq 'smtp:bobby@{org.tenant.domains[0]}')",
            "$select": "id,mail,proxyAddresses,userType,accountEnabled",
        },
    )
    first = _graph(graph_sim, token, "users", **{"$top": "1", "$select": "id"})

    assert alias.status_code == 200, alias.text
    (found,) = alias.json()["value"]
    assert found["id"] == org.bob.id and found["userType"] == "Member"
    assert found["accountEnabled"] is True and "smtp:bobby@" in found["proxyAddresses"][1]
    page: dict[str, Any] = first.json()
    assert len(page["value"]) == 1 and set(page["value"][0]) == {"id"}
    with graph_sim.http(token) as http:
        second = http.get(page["@odata.nextLink"]).json()
    assert second["value"][0]["id"] != page["value"][0]["id"]


def test_without_a_directory_permission_users_answer_authorization_request_denied(
    graph_sim: GraphSim, org: Org
) -> None:
    answer = _graph(graph_sim, org.app_only("Calendars.ReadWrite"), "users")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "Authorization_RequestDenied"


def test_mailboxes_missing_or_outside_the_access_policy(graph_sim: GraphSim, org: Org) -> None:
    with org.world.lock:
        org.bob.has_mailbox = False
        org.tenant.service_principals[CLIENT_ID] = ServicePrincipal(
            CLIENT_ID, mailbox_scope={org.bob.id}
        )
    token = org.app_only("Calendars.ReadWrite")

    no_mailbox = _graph(graph_sim, token, f"users/{org.bob.id}/events")
    outside = _graph(graph_sim, token, f"users/{org.alice.id}/events")

    assert no_mailbox.status_code == 404
    assert no_mailbox.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    assert outside.status_code == 403
    assert outside.json()["error"] == {
        **outside.json()["error"],
        "code": "ErrorAccessDenied",
        "message": "Access to OData is disabled.",
    }
