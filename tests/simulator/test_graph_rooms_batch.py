"""Rooms that answer bookings, places, getSchedule, and JSON $batch."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx

from tests.simulator import graph_support
from tests.simulator.graph_support import (
    GraphSim,
    Org,
    Receiver,
    event_body,
    poll,
    room_attendee,
)

graph_sim = graph_support.graph_sim
org = graph_support.org
receiver = graph_support.receiver
receiver_server = graph_support.receiver_server


def _room_status(http: httpx.Client, org: Org, event_id: str, room_mail: str) -> str:
    ev = http.get(f"/users/{org.alice.id}/events/{event_id}").json()
    return str(
        next(
            a["status"]["response"]
            for a in ev["attendees"]
            if a["emailAddress"]["address"] == room_mail
        )
    )


def _book(http: httpx.Client, org: Org, room: Any, start: str, end: str) -> dict[str, Any]:
    response = http.post(
        f"/users/{org.alice.id}/events",
        json=event_body("Booking", start, end, attendees=[room_attendee(room)]),
    )
    assert response.status_code == 201
    return response.json()  # type: ignore[no-any-return]


def test_room_accepts_and_the_organizer_is_notified(
    graph_sim: GraphSim, org: Org, receiver: Receiver
) -> None:
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        sub = http.post(
            "/subscriptions",
            json={
                "changeType": "updated",
                "notificationUrl": receiver.url + "/notify",
                "resource": f"users/{org.alice.id}/events",
                "expirationDateTime": _in_an_hour(graph_sim),
            },
        ).json()
        booking = _book(http, org, org.room_accept, "2030-09-01T09:00:00", "2030-09-01T10:00:00")
        assert booking["attendees"][0]["status"]["response"] == "none"  # pending at first
        poll(
            lambda: _room_status(http, org, booking["id"], org.room_accept.mail),
            lambda s: s == "accepted",
        )
        room_copy = graph_sim.control().events(org.room_accept.mail)
        assert [(e["iCalUId"], e["responseStatus"]["response"]) for e in room_copy] == [
            (booking["iCalUId"], "accepted")
        ]
        latest = http.get(f"/users/{org.alice.id}/events/{booking['id']}").json()
        receiver.wait_for(
            lambda items: any(
                n["resourceData"]["@odata.etag"] == latest["@odata.etag"]
                for i in items
                for n in i["body"]["value"]
                if n["subscriptionId"] == sub["id"]
            )
        )


def _in_an_hour(graph_sim: GraphSim) -> str:
    return (graph_sim.world.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")


def test_busy_room_declines_overlap_and_silent_room_never_answers(
    graph_sim: GraphSim, org: Org
) -> None:
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        first = _book(http, org, org.room_busy, "2030-09-02T09:00:00", "2030-09-02T10:00:00")
        poll(
            lambda: _room_status(http, org, first["id"], org.room_busy.mail),
            lambda s: s == "accepted",
        )
        clash = _book(http, org, org.room_busy, "2030-09-02T09:30:00", "2030-09-02T10:30:00")
        poll(
            lambda: _room_status(http, org, clash["id"], org.room_busy.mail),
            lambda s: s == "declined",
        )
        # The declined booking is not in the room's calendar; the accepted one is.
        assert [e["iCalUId"] for e in graph_sim.control().events(org.room_busy.mail)] == [
            first["iCalUId"]
        ]

        # Moving the clash to a free slot: the room answers again and accepts.
        http.patch(
            f"/users/{org.alice.id}/events/{clash['id']}",
            json={
                "start": {"dateTime": "2030-09-02T11:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2030-09-02T12:00:00", "timeZone": "UTC"},
            },
        )
        poll(
            lambda: _room_status(http, org, clash["id"], org.room_busy.mail),
            lambda s: s == "accepted",
        )

        silent = _book(http, org, org.room_silent, "2030-09-02T09:00:00", "2030-09-02T10:00:00")
        graph_sim.control().set_room_policy(org.room_silent.mail, "never_answer")
        time.sleep(0.6)  # three times the room's answer delay
        assert _room_status(http, org, silent["id"], org.room_silent.mail) == "none"
        # The administrator switches the room to auto-accept; a new booking is accepted.
        graph_sim.control().set_room_policy(org.room_silent.mail, "accept")
        later = _book(http, org, org.room_silent, "2030-09-03T09:00:00", "2030-09-03T10:00:00")
        poll(
            lambda: _room_status(http, org, later["id"], org.room_silent.mail),
            lambda s: s == "accepted",
        )


def test_places_and_get_schedule(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.app_only("Place.Read.All", "Calendars.ReadWrite")) as http:
        rooms = http.get("/places/microsoft.graph.room").json()["value"]
        by_mail = {r["emailAddress"]: r for r in rooms}
        assert set(by_mail) == {org.room_accept.mail, org.room_busy.mail, org.room_silent.mail}
        assert by_mail[org.room_accept.mail]["capacity"] == 8
        assert by_mail[org.room_accept.mail]["building"] == "North"
        assert by_mail[org.room_accept.mail]["displayName"] == "Orion Room"

        http.post(
            f"/users/{org.bob.id}/events",
            json=event_body("Focus", "2030-09-05T09:00:00", "2030-09-05T10:00:00"),
        )
        http.post(
            f"/users/{org.bob.id}/events",
            json=event_body(
                "Maybe", "2030-09-05T10:30:00", "2030-09-05T11:00:00", showAs="tentative"
            ),
        )
        schedule = http.post(
            f"/users/{org.alice.id}/calendar/getSchedule",
            json={
                "schedules": [org.bob.mail, "ghost@nowhere.example"],
                "startTime": {"dateTime": "2030-09-05T08:00:00", "timeZone": "UTC"},
                "endTime": {"dateTime": "2030-09-05T12:00:00", "timeZone": "UTC"},
                "availabilityViewInterval": 30,
            },
        ).json()["value"]
        bob, ghost = schedule
        assert bob["scheduleId"] == org.bob.mail
        assert bob["availabilityView"] == "00220100"
        assert [(i["status"], i["subject"]) for i in bob["scheduleItems"]] == [
            ("busy", "Focus"), ("tentative", "Maybe"),
        ]  # fmt: skip
        assert ghost["error"]["responseCode"] == "ErrorMailRecipientNotFound"


def test_batch_dispatches_requests_with_dependencies(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.delegated(org.alice, "Calendars.ReadWrite", "User.Read")) as http:
        body = {
            "requests": [
                {"id": "1", "method": "GET", "url": "/me?$select=id,mail"},
                {
                    "id": "2",
                    "method": "POST",
                    "url": "/me/events",
                    "headers": {"Content-Type": "application/json"},
                    "body": event_body("Batched", "2030-09-06T09:00:00", "2030-09-06T10:00:00"),
                },
                {"id": "3", "method": "GET", "url": "me/events/does-not-exist"},
                {"id": "4", "method": "GET", "url": "/me/events", "dependsOn": ["3"]},
                {
                    "id": "5",
                    "method": "GET",
                    "url": "/users/someone-else/events",
                    "dependsOn": ["2"],
                },
            ]
        }
        response = http.post("/$batch", json=body)
        assert response.status_code == 200
        answers = {r["id"]: r for r in response.json()["responses"]}
        assert [r["id"] for r in response.json()["responses"]] == ["1", "2", "3", "4", "5"]
        assert answers["1"]["status"] == 200
        assert answers["1"]["body"]["mail"] == org.alice.mail
        assert answers["2"]["status"] == 201
        assert answers["2"]["body"]["subject"] == "Batched"
        assert answers["2"]["headers"]["content-type"].startswith("application/json")
        assert answers["3"]["status"] == 404
        assert answers["3"]["body"]["error"]["code"] == "ErrorItemNotFound"
        assert answers["4"]["status"] == 424
        assert answers["5"]["status"] == 404  # unknown user in this tenant
        assert http.get(f"/me/events/{answers['2']['body']['id']}").status_code == 200

        too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]}
        refused = http.post("/$batch", json=too_many)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "BadRequest"
    with graph_sim.http("bad-token") as http:
        assert http.post("/$batch", json=body).status_code == 401
