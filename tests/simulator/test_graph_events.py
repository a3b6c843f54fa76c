"""Graph users and events: CRUD, transactionId, If-Match, $select, time zones, permissions."""

from __future__ import annotations

import uuid

from tests.simulator import graph_support
from tests.simulator.graph_support import GraphSim, Org, event_body, make_org

# Fixtures shared by the Graph test modules.
graph_sim = graph_support.graph_sim
org = graph_support.org


def test_me_and_user_lookup_by_mail_and_upn(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.delegated(org.alice, "User.Read", "openid")) as http:
        me = http.get("/me").json()
        assert me["id"] == org.alice.id
        assert me["mail"] == org.alice.mail
        assert (
            http.get("/users", params={"$filter": f"mail eq '{org.bob.mail}'"}).status_code == 403
        )
    with graph_sim.http(org.app_only("User.Read.All")) as http:
        found = http.get(
            "/users",
            params={"$filter": f"mail eq '{org.bob.mail}'", "$select": "id,mail"},
        ).json()["value"]
        assert found == [{"mail": org.bob.mail, "id": org.bob.id}]
        by_upn = http.get(
            "/users", params={"$filter": f"userPrincipalName eq '{org.alice.user_principal_name}'"}
        ).json()["value"]
        assert [u["id"] for u in by_upn] == [org.alice.id]
        assert http.get(f"/users/{org.bob.user_principal_name}").json()["id"] == org.bob.id
        missing = http.get("/users/nobody@nowhere.example")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "Request_ResourceNotFound"
        assert http.get("/me").status_code == 400  # /me needs a delegated token
        unknown = http.get("/me/mailFolders")
        assert unknown.status_code == 400
        message = unknown.json()["error"]["message"]
        assert message == "Resource not found for the segment 'mailFolders'."


def test_create_get_update_delete_event_with_etags(graph_sim: GraphSim, org: Org) -> None:
    token = org.delegated(org.alice, "Calendars.ReadWrite")
    with graph_sim.http(token) as http:
        created = http.post(
            "/me/events",
            json=event_body(
                "Planning", "2030-01-07T09:00:00", "2030-01-07T10:00:00",
                body={"contentType": "html", "content": "<p>Agenda &amp; notes</p>"},
                categories=["Host app"], showAs="tentative",
            ),
        )  # fmt: skip
        assert created.status_code == 201
        ev = created.json()
        assert ev["@odata.etag"] == f'W/"{ev["changeKey"]}"'
        assert ev["subject"] == "Planning"
        assert ev["bodyPreview"] == "Agenda & notes"
        assert ev["start"] == {"dateTime": "2030-01-07T09:00:00.0000000", "timeZone": "UTC"}
        assert ev["showAs"] == "tentative"
        assert ev["organizer"]["emailAddress"]["address"] == org.alice.mail
        assert ev["isOrganizer"] is True
        assert ev["iCalUId"].startswith("040000008200E00074C5B7101A82E008")

        got = http.get(f"/users/{org.alice.id}/calendar/events/{ev['id']}").json()
        assert got["changeKey"] == ev["changeKey"]

        patched = http.patch(
            f"/me/events/{ev['id']}",
            json={
                "subject": "Planning (moved)",
                "end": {"dateTime": "2030-01-07T11:00:00", "timeZone": "UTC"},
            },
            headers={"If-Match": ev["@odata.etag"]},
        )
        assert patched.status_code == 200
        assert patched.json()["changeKey"] != ev["changeKey"]
        assert patched.json()["end"]["dateTime"] == "2030-01-07T11:00:00.0000000"

        stale = http.patch(
            f"/me/events/{ev['id']}",
            json={"subject": "lost"},
            headers={"If-Match": ev["@odata.etag"]},
        )
        assert stale.status_code == 412
        assert stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
        assert http.get(f"/me/events/{ev['id']}").json()["subject"] == "Planning (moved)"

        assert http.delete(f"/me/events/{ev['id']}").status_code == 204
        gone = http.get(f"/me/events/{ev['id']}")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "ErrorItemNotFound"
        assert http.delete(f"/me/events/{ev['id']}").status_code == 404


def test_repeated_transaction_id_returns_the_first_event(graph_sim: GraphSim, org: Org) -> None:
    txn = str(uuid.uuid4())
    body = event_body("Shift", "2030-02-01T08:00:00", "2030-02-01T16:00:00", transactionId=txn)
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        first = http.post(f"/users/{org.bob.mail}/events", json=body).json()
        second = http.post(f"/users/{org.bob.id}/calendar/events", json=body).json()
        assert second["id"] == first["id"]
        assert second["transactionId"] == txn
        listed = http.get(f"/users/{org.bob.id}/events").json()["value"]
        assert [e["id"] for e in listed] == [first["id"]]
        # Another mailbox with the same transactionId gets its own event.
        other = http.post(f"/users/{org.alice.id}/events", json=body).json()
        assert other["id"] != first["id"]


def test_select_and_preferred_time_zone(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.delegated(org.alice, "Calendars.ReadWrite")) as http:
        ev = http.post(
            "/me/events",
            json={
                "subject": "Standup",
                "start": {"dateTime": "2030-06-03T09:00:00", "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": "2030-06-03T09:15:00", "timeZone": "Europe/Berlin"},
            },
        ).json()
        # Stored in UTC (Berlin is UTC+2 in June).
        assert ev["start"] == {"dateTime": "2030-06-03T07:00:00.0000000", "timeZone": "UTC"}
        assert ev["originalStartTimeZone"] == "W. Europe Standard Time"
        local = http.get(
            f"/me/events/{ev['id']}",
            params={"$select": "subject,start"},
            headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
        )
        assert local.headers["Preference-Applied"] == 'outlook.timezone="Pacific Standard Time"'
        body = local.json()
        assert set(body) == {"@odata.context", "@odata.etag", "id", "subject", "start"}
        assert body["start"] == {
            "dateTime": "2030-06-03T00:00:00.0000000",
            "timeZone": "Pacific Standard Time",
        }


def test_permissions_are_enforced_from_the_token(graph_sim: GraphSim, org: Org) -> None:
    body = event_body("x", "2030-03-01T10:00:00", "2030-03-01T11:00:00")
    with graph_sim.http(org.delegated(org.alice, "Calendars.Read")) as http:
        assert http.get("/me/events").status_code == 200
        denied = http.post("/me/events", json=body)
        assert denied.status_code == 403
        error = denied.json()["error"]
        assert error["code"] == "ErrorAccessDenied"
        assert error["message"] == "Access is denied. Check credentials and try again."
        assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
        # Delegated tokens reach only the signed-in user's mailbox.
        assert http.get(f"/users/{org.bob.id}/events").status_code == 403
    with graph_sim.http(org.delegated(org.alice, "User.Read")) as http:
        assert http.get("/me/events").status_code == 403
        assert http.get("/places/microsoft.graph.room").status_code == 403
    with graph_sim.http(org.app_only("Calendars.Read")) as http:
        assert http.get(f"/users/{org.bob.id}/events").status_code == 200
        assert http.post(f"/users/{org.bob.id}/events", json=body).status_code == 403
        assert (
            http.get("/users", params={"$filter": f"mail eq '{org.bob.mail}'"}).status_code == 403
        )


def test_bad_and_expired_tokens_get_invalid_authentication_token(
    graph_sim: GraphSim, org: Org
) -> None:
    with graph_sim.http("not-a-jwt") as http:
        response = http.get("/me")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    with graph_sim.http() as http:
        assert http.get("/me/events").status_code == 401
    token = org.delegated(org.alice, "User.Read")
    graph_sim.world.advance(3700)  # past the token's lifetime on the simulated clock
    try:
        with graph_sim.http(token) as http:
            expired = http.get("/me")
            assert expired.status_code == 401
            assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"
    finally:
        graph_sim.world.clock_offset -= 3700


def test_another_tenants_mailbox_is_out_of_reach(graph_sim: GraphSim, org: Org) -> None:
    other = make_org(graph_sim.world)
    with graph_sim.http(other.app_only("Calendars.ReadWrite", "User.Read.All")) as http:
        private = http.post(
            f"/users/{other.alice.id}/events",
            json=event_body("secret", "2030-03-01T10:00:00", "2030-03-01T11:00:00"),
        ).json()
    with graph_sim.http(org.app_only("Calendars.ReadWrite", "User.Read.All")) as http:
        for path in (
            f"/users/{other.alice.id}/events",
            f"/users/{other.alice.mail}/events/{private['id']}",
            f"/users/{other.alice.id}",
        ):
            response = http.get(path)
            assert response.status_code == 404, path
            assert "secret" not in response.text
        assert (
            http.get("/users", params={"$filter": f"mail eq '{other.alice.mail}'"}).json()["value"]
            == []
        )


def test_organizer_cancel_and_attendee_decline(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        meeting = http.post(
            f"/users/{org.alice.id}/events",
            json=event_body(
                "Review", "2030-04-01T10:00:00", "2030-04-01T11:00:00",
                attendees=[{"type": "required", "emailAddress": {"address": org.bob.mail}}],
            ),
        ).json()  # fmt: skip
        bobs = http.get(f"/users/{org.bob.id}/events").json()["value"]
        assert [e["iCalUId"] for e in bobs] == [meeting["iCalUId"]]
        assert bobs[0]["isOrganizer"] is False
        assert (
            http.post(f"/users/{org.bob.id}/events/{bobs[0]['id']}/cancel", json={}).status_code
            == 400
        )
        assert (
            http.post(f"/users/{org.bob.id}/events/{bobs[0]['id']}/decline", json={}).status_code
            == 202
        )
        assert http.get(f"/users/{org.bob.id}/events").json()["value"] == []
        organizer_view = http.get(f"/users/{org.alice.id}/events/{meeting['id']}").json()
        assert organizer_view["attendees"][0]["status"]["response"] == "declined"

        second = http.post(
            f"/users/{org.alice.id}/events",
            json=event_body(
                "Retro", "2030-04-02T10:00:00", "2030-04-02T11:00:00",
                attendees=[{"type": "required", "emailAddress": {"address": org.bob.mail}}],
            ),
        ).json()  # fmt: skip
        assert (
            http.post(
                f"/users/{org.alice.id}/events/{second['id']}/cancel", json={"comment": "off"}
            ).status_code
            == 202
        )
        assert http.get(f"/users/{org.alice.id}/events/{second['id']}").status_code == 404
        copy = http.get(f"/users/{org.bob.id}/events").json()["value"][0]
        assert copy["isCancelled"] is True
        assert copy["subject"] == "Canceled: Retro"
