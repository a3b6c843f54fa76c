"""Bounded when things fail: with storage hung or the provider hung, every HTTP route still
answers, within its deadline, with a problem+json that says what is down (never a 500).

The storage hang is real: an Azurite of this test's own, stopped with SIGSTOP (it accepts
connections in the kernel's backlog and never answers, like a hung storage front end). The
provider hang is the simulator's ``timeout`` fault: every request held far longer than any
timeout. Each request's client timeout is the route's deadline plus a margin for a loaded
machine: a route that waited on the hang would fail the test by timing out, not by a
measurement.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from devhost.azurite import start_azurite
from shared.deadlines import Timeouts
from shared.http.openapi import openapi_path
from shared.http.routes import api_blueprints
from shared.services import Services, use_services
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import (
    HOST_APP,
    SERVICE,
    connected_microsoft_user,
    event_times,
)

# Short timeouts, so that the test is quick; the deadlines follow from them.
FAST = {
    "storage_connect_timeout_seconds": 1.0,
    "storage_read_timeout_seconds": 1.0,
    "provider_connect_timeout_seconds": 1.0,
    "provider_read_timeout_seconds": 2.0,
    "webhook_deadline_seconds": 1.5,
    "health_deadline_seconds": 1.5,
    "push_inline_deadline_seconds": 3.0,
}
# Room for a loaded two-core machine on top of each deadline (never a timing assertion).
MARGIN = 10.0


def _swap(stack: Stack, **settings: Any) -> Services:
    services = Services(stack.settings.model_copy(update={**FAST, **settings}), clock=stack.clock)
    use_services(services)
    return services


@pytest.fixture
def hung_storage(stack: Stack) -> Iterator[Services]:
    """The app's Table and Queue storage is an Azurite that stops answering mid-run."""
    with start_azurite() as azurite:
        assert azurite.process is not None
        services = _swap(stack, storage_connection_string=SecretStr(azurite.connection_string))
        try:
            # Warm: connections pooled, as in a running app. (Not through /health, whose answer
            # is kept for a few seconds.)
            services.tables.ping()
            services.queues.ping()
            os.killpg(azurite.process.pid, signal.SIGSTOP)
            yield services
        finally:
            os.killpg(azurite.process.pid, signal.SIGCONT)
            use_services(stack.services)


def _request(
    stack: Stack, method: str, path: str, token: str, timeout: float, **kw: Any
) -> httpx.Response:
    return stack.http.request(
        method,
        path,
        headers={"Authorization": f"Bearer {token}", **kw.pop("headers", {})},
        timeout=timeout,
        **kw,
    )


def _every_operation(org: str) -> list[tuple[str, str]]:
    """(method, path) of every operation in the API, with route values filled in."""
    found = []
    for blueprint in api_blueprints():
        for spec in blueprint.specs:
            path = openapi_path(spec, "api")
            for name in spec.path_params:
                path = path.replace("{" + name + "}", org if name == "org" else "x1")
            for method in spec.methods:
                found.append((method, "/" + path.lstrip("/")))
    return found


def test_with_storage_hung_every_route_answers_within_its_deadline(
    stack: Stack, org: str, hung_storage: Services
) -> None:
    token = stack.token(org, "ada", "admin", "service")
    api_deadline = Timeouts.storage(hung_storage.settings).worst_case

    def answer(operation: tuple[str, str]) -> tuple[str, str, int, str]:
        method, path = operation
        kw: dict[str, Any] = {}
        if method in ("PUT", "POST"):
            kw["json"] = {}
        response = _request(stack, method, path, token, api_deadline + MARGIN, **kw)
        return method, path, response.status_code, response.headers.get("content-type", "")

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(answer, _every_operation(org)))
    failures = [a for a in answers if a[2] >= 500 and a[2] != 503]
    assert failures == [], failures
    # Whatever needed storage said so (503 problem+json), and nothing hung.
    unavailable = [a for a in answers if a[2] == 503 and a[1] != "/api/health"]
    assert unavailable, answers
    assert all(a[3] == "application/problem+json" for a in unavailable), unavailable

    health = stack.http.get(
        "/api/health", timeout=hung_storage.settings.health_deadline_seconds + MARGIN
    )
    assert health.status_code == 503, health.text
    checks = health.json()["checks"]
    # Down: "timeout" when the probe was still waiting at the deadline, the error's code when
    # the client's own timeout ended it first.
    assert checks["tables"]["status"] == checks["queues"]["status"] == "failing", checks
    assert {checks["tables"]["error"], checks["queues"]["error"]} <= {
        "timeout",
        "storage_unavailable",
    }
    assert checks["secrets"] == {"status": "ok"}

    people = _request(
        stack,
        "PUT",
        f"/api/orgs/{org}/people",
        token,
        api_deadline + MARGIN,
        json={"people": [{"id": "p1", "name": "P", "email": "p@example.com"}]},
    )
    assert (people.status_code, people.json()["code"]) == (503, "storage_unavailable")


def test_a_graph_notification_that_cannot_be_handled_in_time_is_503_so_graph_retries(
    stack: Stack, hung_storage: Services
) -> None:
    notification = {
        "value": [
            {
                "subscriptionId": "a0b1c2d3-0000-0000-0000-000000000001",
                "clientState": "secret",
                "changeType": "updated",
                "resource": "Users/x/Events/y",
            }
        ]
    }
    response = stack.http.post(
        "/api/webhooks/microsoft",
        json=notification,
        timeout=hung_storage.settings.webhook_deadline_seconds + MARGIN,
    )
    # 503 either way: the deadline passed first, or storage's own timeout ended the call.
    assert response.status_code == 503, response.text
    assert response.json()["code"] in ("deadline_exceeded", "storage_unavailable")


def test_with_the_provider_hung_a_host_app_put_and_a_live_read_answer_in_time(
    stack: Stack, org: str
) -> None:
    _tenant, email, person = connected_microsoft_user(stack, org)
    services = _swap(stack)
    settings = services.settings
    stack.sim.add_fault_rule(area="identity", timeout_probability=1.0, timeout_seconds=20)
    stack.sim.add_fault_rule(area="graph", timeout_probability=1.0, timeout_seconds=20)
    try:
        start, end = event_times()
        put = stack.http.request(
            "PUT",
            f"/api/orgs/{org}/events/hang-1",
            headers={"Authorization": f"Bearer {stack.token(org, HOST_APP, *SERVICE)}"},
            json={
                "subject": "Shift",
                "start": start.isoformat(),
                "end": end.isoformat(),
                "people": [person],
            },
            timeout=settings.push_inline_deadline_seconds + MARGIN,
        )
        assert put.status_code == 201, put.text
        (outcome,) = put.json()["people"]
        assert outcome["status"] == "queued", outcome

        # A live read: the token (identity) or the read (Graph) hangs; either is a 503.
        provider_deadline = 2 * (
            settings.provider_connect_timeout_seconds + settings.provider_read_timeout_seconds
        )
        agenda = stack.http.get(
            f"/api/orgs/{org}/me/events",
            headers={"Authorization": f"Bearer {stack.token(org, person)}"},
            timeout=provider_deadline + MARGIN,
        )
        assert agenda.status_code == 503, agenda.text
        assert agenda.json()["code"] == "provider_unavailable"
    finally:
        stack.sim.clear_faults()
        use_services(stack.services)
    # Once the provider answers again, the queued push lands: nothing was lost. (The retry
    # waits out the worker's delay after an unavailable provider.)
    stack.host.wait_until_idle(timeout=120)
    assert [e["subject"] for e in stack.sim.graph.events(email)] == ["Shift"]
