"""End-to-end: anonymous health over real Azurite and the secret store, answered from its cache."""

from __future__ import annotations

from tests.e2e.conftest import Stack


def test_health_is_ok_and_a_second_call_gets_the_same_answer(stack: Stack) -> None:
    first = stack.http.get("/api/health")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"tables", "queues", "secrets"}
    assert stack.http.get("/api/health").json() == body
