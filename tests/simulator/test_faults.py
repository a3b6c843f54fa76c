"""Fault and load knobs in front of the simulator's areas, on a whole simulator (every area)."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator import tokens
from simulator.client import SimulatorClient, SimulatorControlError
from simulator.server import SimulatorServer
from simulator.world import World


@pytest.fixture(scope="module", name="server")
def server_fixture(simulator_cert_dir: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer.start(simulator_cert_dir, world=World(seed=11)) as running:
        yield running


@pytest.fixture(name="sim")
def sim_fixture(server: SimulatorServer) -> Iterator[SimulatorClient]:
    with SimulatorClient(server.base_url, server.certs.ca) as client:
        client.reset()
        yield client


@pytest.fixture(name="http")
def http_fixture(server: SimulatorServer) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(server.certs.ca))
    with httpx.Client(base_url=server.base_url, verify=context, timeout=10) as client:
        yield client


def _graph_token(server: SimulatorServer, tenant_id: str, user_id: str, app: str = "app-1") -> str:
    return tokens.issue_microsoft_access_token(
        server.world, tenant_id=tenant_id, client_id=app, user_id=user_id, scopes=["Calendars.Read"]
    )


def test_graph_throttling_answers_429_with_retry_after_in_graph_format(
    sim: SimulatorClient, http: httpx.Client
) -> None:
    sim.add_fault_rule(area="graph", throttle_probability=1.0, retry_after_seconds=7)
    response = http.get("/graph/v1.0/me/events")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "TooManyRequests"
    # Other areas and the control API are untouched.
    assert http.get("/common/v2.0/.well-known/openid-configuration").status_code == 200
    assert http.get("/_sim/clock").status_code == 200


def test_google_throttling_uses_rate_limit_exceeded(
    sim: SimulatorClient, http: httpx.Client
) -> None:
    sim.add_fault_rule(area="google", throttle_probability=1.0, throttle_status=403)
    response = http.get("/google/calendar/v3/users/me/calendarList")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == 403
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert error["errors"][0]["domain"] == "usageLimits"


def test_unavailability_can_target_one_tenant(
    sim: SimulatorClient, http: httpx.Client, server: SimulatorServer
) -> None:
    contoso = sim.create_tenant("contoso.example")
    other = sim.create_tenant("other.example")
    sim.add_fault_rule(tenant="contoso.example", unavailable_probability=1.0, retry_after_seconds=3)
    discovery = "/{}/v2.0/.well-known/openid-configuration"
    refused = http.get(discovery.format(contoso["id"]))
    assert refused.status_code == 503 and refused.headers["retry-after"] == "3"
    assert refused.json()["error"] == "temporarily_unavailable"
    assert http.get(discovery.format(other["id"])).status_code == 200
    # On Graph the tenant comes from the bearer token's tid.
    token = _graph_token(server, contoso["id"], "u1")
    graph = http.get("/graph/v1.0/me", headers={"Authorization": f"Bearer {token}"})
    assert graph.status_code == 503
    assert graph.json()["error"]["code"] == "ServiceUnavailable"


def test_connection_reset_closes_without_a_response(
    sim: SimulatorClient, server: SimulatorServer
) -> None:
    sim.add_fault_rule(area="identity", reset_probability=1.0)
    context = ssl.create_default_context(cafile=str(server.certs.ca))
    with (
        httpx.Client(base_url=server.base_url, verify=context, timeout=5) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get("/common/v2.0/.well-known/openid-configuration")
    assert sim.stats()["areas"]["identity"]["by_status"] == {"reset": 1}


def test_timeout_holds_the_request_past_the_client_deadline(
    sim: SimulatorClient, server: SimulatorServer
) -> None:
    sim.add_fault_rule(area="identity", timeout_probability=1.0, timeout_seconds=1.5)
    context = ssl.create_default_context(cafile=str(server.certs.ca))
    with (
        httpx.Client(base_url=server.base_url, verify=context, timeout=0.5) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.get("/common/v2.0/.well-known/openid-configuration")


def test_latency_with_jitter_is_added(sim: SimulatorClient, http: httpx.Client) -> None:
    sim.add_fault_rule(area="identity", latency_ms=150, jitter_ms=50)
    started = time.perf_counter()
    assert http.get("/common/v2.0/.well-known/openid-configuration").status_code == 200
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.15  # at least the configured latency (how much more is load)


def test_fifth_concurrent_request_to_one_mailbox_is_application_throttled(
    sim: SimulatorClient, server: SimulatorServer
) -> None:
    sim.add_fault_rule(area="graph", latency_ms=600)
    token = _graph_token(server, "t1", "mailbox-owner")
    statuses: list[int] = []
    bodies: list[dict[str, object]] = []
    lock = threading.Lock()
    context = ssl.create_default_context(cafile=str(server.certs.ca))

    def call(path: str) -> None:
        with httpx.Client(base_url=server.base_url, verify=context, timeout=10) as client:
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        with lock:
            statuses.append(response.status_code)
            if response.status_code == 429:
                bodies.append(response.json())

    paths = ["/graph/v1.0/users/mailbox-owner/events"] * 4 + ["/graph/v1.0/me/events"] * 2
    threads = [threading.Thread(target=call, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(429) == 2, statuses
    assert all(b["error"]["code"] == "ApplicationThrottled" for b in bodies)  # type: ignore[index]
    assert "MailboxConcurrency" in bodies[0]["error"]["message"]  # type: ignore[index]


def test_same_seed_gives_the_same_faults(sim: SimulatorClient, http: httpx.Client) -> None:
    def run() -> list[int]:
        sim.reset()
        sim.add_fault_rule(area="identity", throttle_probability=0.5)
        path = "/common/v2.0/.well-known/openid-configuration"
        return [http.get(path).status_code for _ in range(24)]

    first, second = run(), run()
    assert first == second
    assert 200 in first and 429 in first


def test_stats_count_requests_per_area_and_status(sim: SimulatorClient, http: httpx.Client) -> None:
    sim.reset_stats()
    http.get("/common/v2.0/.well-known/openid-configuration")
    http.get("/nowhere.example/v2.0/.well-known/openid-configuration")
    http.get("/graph/v1.0/me")
    stats = sim.stats()
    assert stats["areas"]["identity"] == {"total": 2, "by_status": {"200": 1, "400": 1}}
    assert stats["areas"]["graph"]["total"] == 1
    assert stats["total"] == 3


def test_fault_rules_are_validated(sim: SimulatorClient) -> None:
    with pytest.raises(SimulatorControlError) as refused:
        sim.add_fault_rule(area="graph", throttle_probabilty=1.0)
    assert refused.value.status == 400
    with pytest.raises(SimulatorControlError):
        sim.add_fault_rule(area="exchange")
    sim.set_faults([{"area": "graph", "latency_ms": 5}], mailbox_concurrency_limit=2)
    assert sim.faults()["mailbox_concurrency_limit"] == 2
    sim.clear_faults()
    assert sim.faults() == {"rules": [], "mailbox_concurrency_limit": 4}
