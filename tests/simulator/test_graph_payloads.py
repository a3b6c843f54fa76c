"""The simulator's Graph payloads against the documented examples in payloads/graph/*.json.

Each file holds a documented example (``example``), the Microsoft Learn page it comes from
(``source``), values that are fixed by the contract (``fixed``, paths like
``value/0/changeType``; ``{root}`` is the simulator's ``/graph/v1.0``), and keys the
documentation shows but does not require (``optional``). The simulator's answer must have every
documented key with a value of the same JSON type (a documented ``null`` accepts anything) and
the fixed values.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.simulator import graph_support
from tests.simulator.graph_support import GraphSim, Org, Receiver, event_body

graph_sim = graph_support.graph_sim
org = graph_support.org
receiver = graph_support.receiver
receiver_server = graph_support.receiver_server

PAYLOADS = Path(__file__).parent / "payloads" / "graph"


def _doc(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())  # type: ignore[no-any-return]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _compare(doc: Any, sim: Any, path: str, optional: set[str]) -> list[str]:
    if doc is None:
        return []
    if _kind(doc) != _kind(sim):
        return [f"{path or '<root>'}: documented {_kind(doc)}, simulator {_kind(sim)}"]
    problems: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            sub = f"{path}/{key}" if path else key
            if key not in sim:
                if sub not in optional:
                    problems.append(f"{sub}: missing")
                continue
            problems += _compare(value, sim[key], sub, optional)
    elif isinstance(doc, list) and doc and sim:
        for index, item in enumerate(sim):
            problems += _compare(doc[0], item, f"{path}/{index}", optional)
    return problems


def _at(body: Any, dotted: str) -> Any:
    for part in dotted.split("/"):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def conforms(name: str, sim: Any, graph_sim: GraphSim) -> None:
    doc = _doc(name)
    assert doc["source"].startswith("https://learn.microsoft.com/")
    problems = _compare(doc["example"], sim, "", set(doc.get("optional", [])))
    root = graph_sim.graph
    for dotted, value in doc.get("fixed", {}).items():
        expected = value.replace("{root}", root) if isinstance(value, str) else value
        if _at(sim, dotted) != expected:
            problems.append(f"{dotted}: {_at(sim, dotted)!r} != {expected!r}")
    assert problems == [], f"{name}: {problems}"


def test_the_comparison_catches_a_missing_key_and_a_wrong_type(graph_sim: GraphSim) -> None:
    doc = {"a": {"b": "x", "c": [1]}, "d": None}
    assert _compare(doc, {"a": {"b": "y", "c": [2, 3]}, "d": 5}, "", set()) == []
    assert _compare(doc, {"a": {"c": ["2"]}}, "", set()) == [
        "a/b: missing",
        "a/c/0: documented number, simulator str",
        "d: missing",
    ]


def test_event_matches_the_documented_event(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.delegated(org.alice, "Calendars.ReadWrite")) as http:
        ev = http.post(
            "/me/events",
            json=event_body(
                "Let's go brunch", "2030-04-15T18:00:00", "2030-04-15T19:00:00",
                body={"contentType": "html", "content": "<p>Does noon work for you?</p>"},
                location={"displayName": "Harry's Bar"},
                attendees=[{"type": "required", "emailAddress": {"address": org.bob.mail}}],
            ),
        ).json()  # fmt: skip
        got = http.get(
            f"/me/events/{ev['id']}", headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}
        ).json()
    conforms("event", got, graph_sim)
    assert got["start"] == {
        "dateTime": "2030-04-15T11:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }


def test_error_body_matches_the_documented_error(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.delegated(org.alice, "Calendars.Read")) as http:
        response = http.get("/me/events/AAMkAnothing")
    assert response.status_code == 404
    conforms("error_body", response.json(), graph_sim)
    assert response.headers["request-id"] == response.json()["error"]["innerError"]["request-id"]


def test_throttled_answer_matches_the_documented_429(graph_sim: GraphSim, org: Org) -> None:
    control = graph_sim.control()
    saved = control.settings()["throttle_limit"]
    control.settings(throttle_limit=2)
    try:
        with graph_sim.http(org.delegated(org.bob, "Calendars.Read")) as http:
            statuses = [http.get("/me/events") for _ in range(3)]
    finally:
        control.settings(throttle_limit=saved)
    assert [r.status_code for r in statuses] == [200, 200, 429]
    throttled = statuses[-1]
    assert int(throttled.headers["Retry-After"]) > 0
    conforms("throttled_429", throttled.json(), graph_sim)


def _delta_pages(http: httpx.Client) -> tuple[dict[str, Any], str]:
    window = {"startDateTime": "2030-10-01T00:00:00Z", "endDateTime": "2030-10-31T00:00:00Z"}
    first = http.get(
        "/me/calendarView/delta", params=window, headers={"Prefer": "odata.maxpagesize=1"}
    ).json()
    link = first["@odata.nextLink"]
    while True:
        page = http.get(link, headers={"Prefer": "odata.maxpagesize=1"}).json()
        if "@odata.deltaLink" in page:
            return first, page["@odata.deltaLink"]
        link = page["@odata.nextLink"]


def test_delta_pages_match_the_documented_pages(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.delegated(org.alice, "Calendars.ReadWrite")) as http:
        ids = [
            http.post(
                "/me/events", json=event_body(s, f"2030-10-0{d}T09:00:00", f"2030-10-0{d}T10:00:00")
            ).json()["id"]
            for d, s in ((1, "one"), (2, "two"))
        ]
        first, delta_link = _delta_pages(http)
        conforms("delta_page_next", first, graph_sim)
        http.delete(f"/me/events/{ids[0]}")
        final = http.get(delta_link).json()
    conforms("delta_page_final", final, graph_sim)
    assert final["value"][0]["id"] == ids[0]


def test_documented_batch_request_gets_the_documented_response_shape(
    graph_sim: GraphSim, org: Org
) -> None:
    request = _doc("batch_request")["example"]
    with graph_sim.http(org.delegated(org.alice, "Calendars.ReadWrite", "User.Read")) as http:
        response = http.post("/$batch", json=request)
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["responses"]] == [200, 200, 201]
    # Graph's headers are named as sent; compare case-insensitively.
    for entry in body["responses"]:
        entry["headers"] = {k.title(): v for k, v in entry["headers"].items()}
    conforms("batch_response", body, graph_sim)


def test_subscription_and_notifications_match_the_documented_payloads(
    graph_sim: GraphSim, org: Org, receiver: Receiver
) -> None:
    expiry = (graph_sim.world.now() + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    with graph_sim.http(org.delegated(org.bob, "Calendars.ReadWrite")) as http:
        created = http.post(
            "/subscriptions",
            json={
                "changeType": "created",
                "notificationUrl": receiver.url + "/notify",
                "lifecycleNotificationUrl": receiver.url + "/lifecycle",
                "resource": "me/events",
                "expirationDateTime": expiry,
                "clientState": "secretClientValue",
            },
        )
        assert created.status_code == 201
        conforms("subscription", created.json(), graph_sim)
        http.post(
            "/me/events", json=event_body("ping", "2030-10-05T09:00:00", "2030-10-05T10:00:00")
        )
    items = receiver.wait_for(lambda i: any(x["path"] == "/notify" for x in i))
    note = next(x["body"] for x in items if x["path"] == "/notify")
    conforms("change_notification", note, graph_sim)
    assert note["value"][0]["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"

    graph_sim.control().trigger_lifecycle(created.json()["id"], "reauthorizationRequired")
    items = receiver.wait_for(lambda i: any(x["path"] == "/lifecycle" for x in i))
    conforms(
        "lifecycle_notification",
        next(x["body"] for x in items if x["path"] == "/lifecycle"),
        graph_sim,
    )


@pytest.mark.parametrize("name", sorted(p.stem for p in PAYLOADS.glob("*.json")))
def test_every_payload_names_its_documentation_page(name: str) -> None:
    doc = _doc(name)
    assert doc["source"].startswith("https://learn.microsoft.com/graph/")
    assert isinstance(doc["example"], dict)


def test_series_master_and_instances_match_the_documented_ones(
    graph_sim: GraphSim, org: Org
) -> None:
    request = {
        "subject": "Let's go for lunch",
        "body": {"contentType": "HTML", "content": "Does noon time work for you?"},
        "start": {"dateTime": "2030-09-02T12:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2030-09-02T14:00:00", "timeZone": "Pacific Standard Time"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
            "range": {"type": "endDate", "startDate": "2030-09-02", "endDate": "2030-12-31"},
        },
        "location": {"displayName": "Harry's Bar"},
        "attendees": [
            {"emailAddress": {"address": org.bob.mail, "name": "Bob"}, "type": "required"}
        ],
    }
    with graph_sim.http(org.delegated(org.alice, "Calendars.ReadWrite")) as http:
        created = http.post(
            "/me/events",
            json=request,
            headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
        )
        assert created.status_code == 201, created.text
        conforms("event_series_master", created.json(), graph_sim)
        master = created.json()["id"]
        window = {"startDateTime": "2030-09-01T00:00:00Z", "endDateTime": "2030-09-30T00:00:00Z"}
        first = http.get(f"/me/events/{master}/instances", params=window).json()["value"]
        moved = http.patch(
            f"/me/events/{first[1]['id']}",
            json={"start": {"dateTime": "2030-09-10T19:00:00", "timeZone": "UTC"},
                  "end": {"dateTime": "2030-09-10T21:00:00", "timeZone": "UTC"}},
        )  # fmt: skip
        assert moved.status_code == 200, moved.text
        select = "subject,bodyPreview,seriesMasterId,type,recurrence,start,end"
        listed = http.get(
            f"/me/events/{master}/instances", params={**window, "$select": select}
        ).json()
    conforms("event_instances", listed, graph_sim)
    assert [(e["type"], e["seriesMasterId"]) for e in listed["value"]] == [
        ("occurrence", master),
        ("exception", master),
        ("occurrence", master),
        ("occurrence", master),
    ]
    assert listed["value"][0]["start"] == {
        "dateTime": "2030-09-02T19:00:00.0000000",
        "timeZone": "UTC",
    }
