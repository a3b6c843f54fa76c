"""Subscriptions: validation handshake, change and lifecycle notifications, retries, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.simulator import graph_support
from tests.simulator.graph_support import GraphSim, Org, Receiver, event_body

graph_sim = graph_support.graph_sim
org = graph_support.org
receiver = graph_support.receiver
receiver_server = graph_support.receiver_server


def _expiry(graph_sim: GraphSim, minutes: int) -> str:
    return (graph_sim.world.now() + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _subscribe(
    http: httpx.Client, graph_sim: GraphSim, receiver: Receiver, resource: str, **extra: Any
) -> httpx.Response:
    return http.post(
        "/subscriptions",
        json={
            "changeType": "created,updated,deleted",
            "notificationUrl": receiver.url + "/notify",
            "lifecycleNotificationUrl": receiver.url + "/lifecycle",
            "resource": resource,
            "expirationDateTime": _expiry(graph_sim, 4000),
            "clientState": "s3cret",
            **extra,
        },
    )


def _changes(items: list[dict[str, Any]], sub_id: str) -> list[dict[str, Any]]:
    return [
        n
        for item in items
        if item["path"] == "/notify"
        for n in item["body"]["value"]
        if n["subscriptionId"] == sub_id
    ]


def test_handshake_then_notifications_for_an_outlook_change(
    graph_sim: GraphSim, org: Org, receiver: Receiver
) -> None:
    control = graph_sim.control()
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        created = _subscribe(http, graph_sim, receiver, f"users/{org.alice.id}/events")
        assert created.status_code == 201, created.text
        sub = created.json()
        assert sub["changeType"] == "created,updated,deleted"
        assert sub["clientState"] == "s3cret"
        # Both endpoints were validated before the subscription existed.
        assert len(receiver.validations) == 2
        assert all(v.startswith("Validation: ") for v in receiver.validations)

        ev = control.create_event(
            org.alice.mail, event_body("Dentist", "2030-08-01T09:00:00", "2030-08-01T10:00:00")
        )
        items = receiver.wait_for(lambda i: len(_changes(i, sub["id"])) >= 2)
        kinds = sorted(n["changeType"] for n in _changes(items, sub["id"]))
        assert kinds == ["created", "updated"]  # Graph follows a creation with an update
        note = _changes(items, sub["id"])[0]
        assert note["clientState"] == "s3cret"
        assert note["tenantId"] == org.tenant.id
        assert note["resource"] == f"Users/{org.alice.id}/Events/{ev['id']}"
        assert note["resourceData"]["id"] == ev["id"]
        assert note["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"

        control.delete_event(org.alice.mail, ev["id"])
        items = receiver.wait_for(
            lambda i: any(n["changeType"] == "deleted" for n in _changes(i, sub["id"]))
        )
        # Someone else's mailbox does not notify this subscription.
        control.create_event(
            org.bob.mail, event_body("Bob's", "2030-08-01T09:00:00", "2030-08-01T10:00:00")
        )
        log = control.wait_for_deliveries(
            lambda d: all(x["outcome"] == "delivered" for x in d),
            subscription_id=sub["id"],
            kind="change",
        )
        assert len(log) == 3
        assert [s["id"] for s in http.get("/subscriptions").json()["value"]] == [sub["id"]]
        assert http.delete(f"/subscriptions/{sub['id']}").status_code == 204
        assert http.get(f"/subscriptions/{sub['id']}").status_code == 404


def test_failing_endpoint_is_retried_and_duplicates_can_be_forced(
    graph_sim: GraphSim, org: Org, receiver: Receiver
) -> None:
    control = graph_sim.control()
    saved = control.settings()
    control.settings(retry_delays=[0.1, 0.1, 0.1], duplicate_rate=1.0)
    try:
        with graph_sim.http(org.delegated(org.bob, "Calendars.ReadWrite")) as http:
            sub = _subscribe(
                http, graph_sim, receiver, "me/calendar/events", changeType="updated"
            ).json()
            ev = http.post(
                "/me/events", json=event_body("x", "2030-08-02T09:00:00", "2030-08-02T10:00:00")
            ).json()
            receiver.fail_next = 2
            http.patch(f"/me/events/{ev['id']}", json={"subject": "y"})
            # created->updated and the PATCH's update, each sent twice (duplicate_rate 1.0).
            receiver.wait_for(lambda i: len(_changes(i, sub["id"])) == 4)
            log = control.wait_for_deliveries(
                lambda d: len(d) == 4 and all(x["outcome"] == "delivered" for x in d),
                subscription_id=sub["id"],
                kind="change",
            )
            retried = [d for d in log if len(d["attempts"]) > 1]
            assert sum(len(d["attempts"]) - 1 for d in retried) == 2
            assert all(a["status"] == 500 for d in retried for a in d["attempts"][:-1])
    finally:
        control.settings(retry_delays=saved["retry_delays"], duplicate_rate=saved["duplicate_rate"])


def test_subscription_creation_fails_when_the_endpoint_does_not_echo(
    graph_sim: GraphSim, org: Org, receiver: Receiver
) -> None:
    receiver.echo = lambda token: "something else"
    with graph_sim.http(org.app_only("Calendars.Read")) as http:
        refused = _subscribe(http, graph_sim, receiver, f"/users/{org.bob.id}/events")
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "InvalidRequest"
        assert "validationToken" in refused.json()["error"]["message"]
        receiver.echo = lambda token: token
        unreachable = http.post(
            "/subscriptions",
            json={
                "changeType": "created",
                "notificationUrl": "http://127.0.0.1:9/nothing-listens",
                "resource": f"/users/{org.bob.id}/events",
                "expirationDateTime": _expiry(graph_sim, 60),
            },
        )
        assert unreachable.status_code == 400
        not_https = http.post(
            "/subscriptions",
            json={
                "changeType": "created",
                "notificationUrl": "http://example.com/hook",
                "resource": f"/users/{org.bob.id}/events",
                "expirationDateTime": _expiry(graph_sim, 60),
            },
        )
        assert not_https.status_code == 400
        too_long = _subscribe(
            http, graph_sim, receiver, f"/users/{org.bob.id}/events",
            expirationDateTime=_expiry(graph_sim, 4231),
        )  # fmt: skip
        assert too_long.status_code == 400
        assert too_long.json()["error"] == {
            **too_long.json()["error"],
            "code": "ExtensionError",
            "message": "Subscription expiration can only be 4230 minutes in the future.",
        }
    with graph_sim.http(org.app_only("User.Read.All")) as http:
        assert (
            _subscribe(http, graph_sim, receiver, f"/users/{org.bob.id}/events").status_code == 403
        )
    with graph_sim.http(org.delegated(org.alice, "Calendars.Read")) as http:
        other = _subscribe(http, graph_sim, receiver, f"/users/{org.bob.id}/events")
        assert other.status_code == 403


def test_lifecycle_notifications_and_expiry_on_the_simulated_clock(
    graph_sim: GraphSim, org: Org, receiver: Receiver
) -> None:
    control = graph_sim.control()
    with graph_sim.http(org.app_only("Calendars.Read")) as http:
        sub = _subscribe(http, graph_sim, receiver, f"users/{org.alice.id}/events").json()
        for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
            control.trigger_lifecycle(sub["id"], event)
        items = receiver.wait_for(lambda i: len([x for x in i if x["path"] == "/lifecycle"]) == 3)
        events = [x["body"]["value"][0] for x in items if x["path"] == "/lifecycle"]
        assert sorted(e["lifecycleEvent"] for e in events) == [
            "missed", "reauthorizationRequired", "subscriptionRemoved",
        ]  # fmt: skip
        assert all(
            e["clientState"] == "s3cret" and e["subscriptionId"] == sub["id"] for e in events
        )
        assert http.get(f"/subscriptions/{sub['id']}").status_code == 404  # removed

        short = _subscribe(
            http, graph_sim, receiver, f"users/{org.alice.id}/events",
            expirationDateTime=_expiry(graph_sim, 30),
        ).json()  # fmt: skip
        renewed = http.patch(
            f"/subscriptions/{short['id']}", json={"expirationDateTime": _expiry(graph_sim, 120)}
        )
        assert renewed.status_code == 200
        assert renewed.json()["expirationDateTime"] > short["expirationDateTime"]
        assert http.post(f"/subscriptions/{short['id']}/reauthorize").status_code == 204
        graph_sim.world.advance(121 * 60)
    try:
        with graph_sim.http(org.app_only("Calendars.Read")) as http:
            assert http.get(f"/subscriptions/{short['id']}").status_code == 404
        before = len(control.deliveries(subscription_id=short["id"], kind="change"))
        control.create_event(
            org.alice.mail, event_body("late", "2030-08-03T09:00:00", "2030-08-03T10:00:00")
        )
        assert len(control.deliveries(subscription_id=short["id"], kind="change")) == before
        expired = [s for s in control.subscriptions() if s["id"] == short["id"]]
        assert expired[0]["expired"] is True
    finally:
        graph_sim.world.clock_offset -= 121 * 60


def test_notification_is_delivered_while_the_change_request_returns_at_once(
    graph_sim: GraphSim, org: Org, receiver: Receiver
) -> None:
    """A slow endpoint never holds up the Graph request that made the change."""
    with graph_sim.http(org.delegated(org.alice, "Calendars.ReadWrite")) as http:
        sub = _subscribe(http, graph_sim, receiver, "/me/events", changeType="created").json()
        receiver.delay_next = 1.5
        started = datetime.now(UTC)
        http.post("/me/events", json=event_body("q", "2030-08-04T09:00:00", "2030-08-04T10:00:00"))
        assert datetime.now(UTC) - started < timedelta(seconds=1)
        receiver.wait_for(lambda i: len(_changes(i, sub["id"])) == 1)


def test_slow_endpoint_counts_as_a_failure_and_is_retried(
    graph_sim: GraphSim, org: Org, receiver: Receiver
) -> None:
    control = graph_sim.control()
    saved = control.settings()
    # Generous margins: on a loaded machine an ordinary delivery must not look slow.
    control.settings(notification_timeout=1.0, retry_delays=[0.1, 0.1, 0.1])
    try:
        with graph_sim.http(org.delegated(org.alice, "Calendars.ReadWrite")) as http:
            sub = _subscribe(http, graph_sim, receiver, "/me/events", changeType="created").json()
            receiver.delay_next = 3.0
            http.post(
                "/me/events", json=event_body("s", "2030-08-05T09:00:00", "2030-08-05T10:00:00")
            )
            log = control.wait_for_deliveries(
                lambda d: len(d) == 1 and d[0]["outcome"] == "delivered",
                subscription_id=sub["id"],
                kind="change",
            )
        attempts = log[0]["attempts"]
        assert attempts[0]["status"] is None
        assert "Timeout" in attempts[0]["error"]
        assert attempts[-1]["status"] == 202
    finally:
        control.settings(
            notification_timeout=saved["notification_timeout"], retry_delays=saved["retry_delays"]
        )
