"""One bad request cannot break an organisation: ranges are checked at the edge, before anything
is stored, and a stored row the service cannot use is skipped instead of failing every read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.storage.keys import encode_key
from shared.storage.tables import Entity
from shared.sync.appevents import APPEVENTS, AppEvents
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import HOST_APP, SERVICE, event_times, new_person_id, put_people


def _put(stack: Stack, org: str, app_event: str, body: dict[str, Any]) -> httpx.Response:
    return stack.call(
        "PUT", f"orgs/{org}/events/{app_event}", org=org, sub=HOST_APP, roles=SERVICE, json=body
    )


def _availability(stack: Stack, org: str, person: str) -> httpx.Response:
    return stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={"people": person},
    )


def _fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "validation_failed"
    return {e["field"] for e in response.json()["errors"]}


def test_an_event_in_the_year_999_is_refused_and_the_organisation_keeps_working(
    stack: Stack, org: str
) -> None:
    person = new_person_id()
    put_people(stack, org, [(person, "Pat", "pat@example.com")])
    base = {"subject": "Shift", "people": [person]}

    ancient = _put(
        stack, org, "e1", {**base, "start": "0999-01-01T09:00:00Z", "end": "0999-01-01T10:00:00Z"}
    )
    assert _fields(ancient) == {"body.start", "body.end"}
    # An offset that would overflow when converted to UTC is a 400 too, not a 500.
    edge = _put(
        stack,
        org,
        "e1",
        {**base, "start": "9999-12-31T22:00:00-05:00", "end": "9999-12-31T23:00:00-05:00"},
    )
    assert _fields(edge) == {"body.start", "body.end"}
    start = datetime(2030, 1, 1, tzinfo=UTC)
    too_long = _put(
        stack,
        org,
        "e1",
        {**base, "start": start.isoformat(), "end": (start + timedelta(days=400)).isoformat()},
    )
    assert _fields(too_long) == {"body"}
    assert AppEvents(stack.services.tables).get(org, "e1") is None

    window = stack.call(
        "GET",
        f"orgs/{org}/availability",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        params={"people": person, "start": "9999-12-31T00:00:00Z"},
    )
    assert _fields(window) == {"query.start"}

    too_many = _availability(stack, org, ",".join(["x" * 200] * 101))
    assert _fields(too_many) == {"query.people"}

    answered = _availability(stack, org, person)
    assert answered.status_code == 200, answered.text
    s, e = event_times()
    stored = _put(stack, org, "e1", {**base, "start": s.isoformat(), "end": e.isoformat()})
    assert stored.status_code == 201, stored.text


def test_a_stored_row_the_service_cannot_read_is_skipped_and_repaired_by_the_next_put(
    stack: Stack, org: str
) -> None:
    person = new_person_id()
    put_people(stack, org, [(person, "Pat", "pat@example.com")])
    s, e = event_times()
    good = _put(
        stack,
        org,
        "good",
        {"subject": "Shift", "people": [person], "start": s.isoformat(), "end": e.isoformat()},
    )
    assert good.status_code == 201, good.text
    # A row damaged outside this code path (an older version, a manual edit): no start, a status
    # this version does not know and people that are not JSON.
    stack.services.tables.upsert(
        APPEVENTS,
        Entity(
            encode_key(org),
            encode_key("bad"),
            {
                "org": org,
                "app_event": "bad",
                "subject": "x",
                "status": "active",
                "people": "[not json",
                "end": e,
                "version": 3,
            },
        ),
    )

    answered = _availability(stack, org, person)
    assert answered.status_code == 200, answered.text
    (view,) = answered.json()["people"]
    assert [b["app_event"] for b in view["busy"]] == ["good"]

    refused = stack.call("DELETE", f"orgs/{org}/events/bad", org=org, sub=HOST_APP, roles=SERVICE)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "event_unreadable"

    repaired = _put(
        stack,
        org,
        "bad",
        {"subject": "Shift", "people": [person], "start": s.isoformat(), "end": e.isoformat()},
    )
    assert repaired.status_code == 200, repaired.text
    assert repaired.json()["event"]["version"] == 4
    cancelled = stack.call("DELETE", f"orgs/{org}/events/bad", org=org, sub=HOST_APP, roles=SERVICE)
    assert cancelled.status_code == 200, cancelled.text


def test_oversized_app_data_is_refused_before_the_calendar_is_read(stack: Stack, org: str) -> None:
    response = stack.call(
        "PUT",
        f"orgs/{org}/me/events/some-event/app-data",
        org=org,
        sub=new_person_id(),
        json={"data": {"note": "x" * 20_000}},
    )
    # The caller has no connection: the size is refused before the calendar would be read.
    assert (response.status_code, response.json()["code"]) == (400, "app_data_too_large")
