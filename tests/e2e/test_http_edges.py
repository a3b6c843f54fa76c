"""The edge of the running app: body size, content type, nesting, malformed webhook JSON and
requests no operation takes, each a problem+json answer with a stable code (never a 500)."""

from __future__ import annotations

import json

import httpx

from shared.http.api import MAX_JSON_DEPTH
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import HOST_APP, SERVICE, event_times, new_person_id


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    code: str = response.json()["code"]
    return code


def _event_body(person: str, **extra: object) -> dict[str, object]:
    start, end = event_times()
    return {
        "subject": "Shift",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "people": [person],
        **extra,
    }


def test_a_five_megabyte_event_body_is_413(stack: Stack, org: str) -> None:
    big = _event_body(new_person_id(), body="x" * 5_000_000)
    response = stack.call(
        "PUT", f"orgs/{org}/events/e1", org=org, sub=HOST_APP, roles=SERVICE, json=big
    )
    assert _problem(response, 413) == "payload_too_large"


def test_json_sent_as_text_plain_is_415_and_deep_nesting_is_400(stack: Stack, org: str) -> None:
    body = json.dumps(_event_body(new_person_id())).encode()
    as_text = stack.call(
        "PUT",
        f"orgs/{org}/events/e1",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        content=body,
        headers={"Content-Type": "text/plain"},
    )
    assert _problem(as_text, 415) == "unsupported_media_type"

    deep = b'{"people": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    nested = stack.call(
        "PUT",
        f"orgs/{org}/events/e1",
        org=org,
        sub=HOST_APP,
        roles=SERVICE,
        content=deep,
        headers={"Content-Type": "application/json"},
    )
    assert _problem(nested, 400) == "json_too_deep"
    assert nested.json()["limit"] == MAX_JSON_DEPTH


def test_malformed_graph_notification_json_is_400(stack: Stack) -> None:
    response = stack.http.post(
        "/api/webhooks/microsoft",
        content=b'{"value": [{"subscriptionId": ',
        headers={"Content-Type": "application/json"},
    )
    assert _problem(response, 400) == "invalid_json"
    # Graph's validation handshake (an empty text/plain POST) is still answered.
    handshake = stack.http.post(
        "/api/webhooks/microsoft",
        params={"validationToken": "abc 123"},
        headers={"Content-Type": "text/plain"},
    )
    assert (handshake.status_code, handshake.text) == (200, "abc 123")


def test_unknown_paths_are_404_and_wrong_methods_405_as_problem_json(stack: Stack) -> None:
    unknown = stack.http.get("/api/orgs/contoso/nothing-here")
    assert _problem(unknown, 404) == "route_not_found"
    wrong = stack.http.get("/api/orgs/contoso/events/e1")
    assert _problem(wrong, 405) == "method_not_allowed"
    assert wrong.headers["allow"] == "DELETE, PUT"
    assert stack.http.post("/api/health").headers["allow"] == "GET"
    # Operations are still reached (the catch-all is the least specific route).
    assert stack.http.get("/api/openapi.json").status_code == 200
