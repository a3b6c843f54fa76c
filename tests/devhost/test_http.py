"""HTTP triggers served by the local host: routes, methods, prefixes, responses and failures."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devhost.host import DevHost
from tests.devhost.sample_app import Recorder, build_app


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def host(recorder: Recorder) -> Iterator[DevHost]:
    # No host.json in an empty folder: the host's default route prefix "api" applies.
    with DevHost(build_app(recorder), app_dir=Path(__file__).parent / "no-such-app-dir") as running:
        running.start()
        yield running


@pytest.fixture
def client(host: DevHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, trust_env=False, timeout=10) as client:
        yield client


def test_route_parameters_and_query_reach_a_blueprint_function(
    client: httpx.Client, recorder: Recorder
) -> None:
    response = client.get("/api/orgs/contoso/integrations/42", params={"expand": "people"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "route": {"org": "contoso", "id": "42"},
        "query": {"expand": "people"},
        "method": "GET",
    }
    assert recorder.of("get_integration")[-1]["url"].endswith(
        "/api/orgs/contoso/integrations/42?expand=people"
    )


def test_post_body_and_headers_reach_the_function_and_its_response_maps_back(
    client: httpx.Client,
) -> None:
    # auth_level FUNCTION: the local host, like Core Tools, does not ask for a key.
    response = client.post(
        "/api/orgs/contoso/integrations", json={"name": "Sales"}, headers={"X-Trace": "t-1"}
    )

    assert response.status_code == 201
    assert response.headers["location"] == "/orgs/contoso/integrations/7"
    assert response.json() == {"org": "contoso", "body": {"name": "Sales"}, "trace": "t-1"}


def test_wrong_method_on_an_existing_route_is_405_and_unknown_path_is_404(
    client: httpx.Client,
) -> None:
    wrong_method = client.delete("/api/orgs/contoso/integrations/42")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"
    assert wrong_method.json()["status"] == 405
    assert "GET" in wrong_method.headers["allow"].split(", ")
    unknown = client.get("/api/orgs/contoso/nothing-here")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["status"] == 404
    assert client.get("/orgs/contoso/integrations/42").status_code == 404  # no route prefix


def test_literal_segment_wins_over_parameter_and_constraints_select_the_route(
    client: httpx.Client,
) -> None:
    assert client.get("/api/orgs/o/integrations/latest").json() == {"which": "latest"}
    assert client.get("/api/orgs/o/integrations/sales").json() == {
        "which": "by-name",
        "name": "sales",
    }
    # {id:int} takes numbers only, so 42 goes to get_integration.
    assert client.get("/api/orgs/o/integrations/42").json()["route"]["id"] == "42"


def test_optional_and_catch_all_parameters(client: httpx.Client) -> None:
    assert client.get("/api/items").json() == {"id": None, "method": "GET"}
    assert client.put("/api/items/9").json() == {"id": "9", "method": "PUT"}
    assert client.get("/api/files/a/b%20c/d.txt").json() == {"path": "a/b c/d.txt"}
    assert client.get("/api/files").json() == {"path": None}


def test_async_function_with_constraint_returns_text(client: httpx.Client) -> None:
    response = client.get("/api/greet/Ada")

    assert response.status_code == 200
    assert response.text == "hello Ada"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/api/greet/Ada1").status_code == 404  # alpha constraint


def test_function_exception_is_500_without_details_and_is_logged(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="devhost"):
        response = client.get("/api/boom")

    assert response.status_code == 500
    assert response.content == b""
    failed = [r for r in caplog.records if r.getMessage().startswith("Executed 'Functions.boom'")]
    assert len(failed) == 1
    assert "Failed" in failed[0].getMessage()
    assert failed[0].exc_info is not None
    assert "secret internal detail" in str(failed[0].exc_info[1])


def test_route_prefix_comes_from_host_json(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": "v1"}}})
    )
    with DevHost(build_app(Recorder()), app_dir=tmp_path) as host:
        host.start()
        with httpx.Client(base_url=host.base_url, trust_env=False) as client:
            assert client.get("/v1/greet/Bob").text == "hello Bob"
            assert client.get("/api/greet/Bob").status_code == 404


def test_empty_route_prefix_serves_routes_at_the_root(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}})
    )
    with DevHost(build_app(Recorder()), app_dir=tmp_path) as host:
        host.start()
        with httpx.Client(base_url=host.base_url, trust_env=False) as client:
            assert client.get("/greet/Bob").text == "hello Bob"


def test_admin_api_rejects_unknown_and_http_functions(client: httpx.Client) -> None:
    assert client.post("/admin/functions/nope", json={}).status_code == 404
    assert client.post("/admin/functions/boom", json={}).status_code == 400
    assert client.post("/admin/functions/nightly", content=b"not json").status_code == 400
    assert client.get("/admin/host/status").json() == {"state": "Running"}


def test_the_listening_socket_disables_nagle(client: httpx.Client, host: DevHost) -> None:
    # With Nagle's algorithm on, each request on a kept-alive connection waits ~40 ms for a
    # delayed ACK; accepted sockets inherit TCP_NODELAY from the listening socket on Linux.
    # (The latency itself is measured by the benchmarks, not asserted here.)
    assert host.listening_socket is not None
    assert host.listening_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert client.get("/api/greet/Ada").status_code == 200
