"""Shared pieces of the Graph simulator tests: the server, a seeded directory, tokens, a receiver.

The tests talk to the whole simulator (the session fixture ``simulator`` of tests/conftest.py)
over TLS with its CA, as the service does; the notification receiver is a real HTTP endpoint on
loopback that records what Graph posts and answers validation requests.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from simulator import tokens
from simulator.client import SimulatorClient
from simulator.microsoft.directory import MsUser, Tenant, directory
from simulator.microsoft.graph.client import GraphControl
from simulator.world import World

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def _serve(app: Any, **config: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    return server, thread, port


@dataclass
class GraphSim:
    world: World
    base_url: str
    ca: Path
    _client: SimulatorClient | None = None

    @property
    def graph(self) -> str:
        return self.base_url + "/graph/v1.0"

    def http(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.graph, verify=self.tls(), headers=headers, timeout=30)

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def control(self) -> GraphControl:
        """``SimulatorClient(...).graph``, one client kept for the whole session."""
        if self._client is None:
            self._client = SimulatorClient(self.base_url, self.ca)
        graph: GraphControl = self._client.graph
        return graph

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


@pytest.fixture(scope="session")
def graph_sim(simulator: Any) -> Iterator[GraphSim]:
    """The whole simulator (the shared session fixture), seen from the Graph tests."""
    sim = GraphSim(world=simulator.world, base_url=simulator.base_url, ca=simulator.certs.ca)
    try:
        yield sim
    finally:
        sim.close()


@dataclass
class Org:
    """A seeded tenant: two people, three rooms (one per policy)."""

    world: World
    tenant: Tenant
    alice: MsUser
    bob: MsUser
    room_accept: MsUser
    room_busy: MsUser
    room_silent: MsUser

    def delegated(self, user: MsUser, *scopes: str) -> str:
        return tokens.issue_microsoft_access_token(
            self.world, tenant_id=self.tenant.id, client_id=CLIENT_ID, user_id=user.id,
            user_principal_name=user.user_principal_name, scopes=list(scopes),
        )  # fmt: skip

    def app_only(self, *roles: str) -> str:
        return tokens.issue_microsoft_access_token(
            self.world, tenant_id=self.tenant.id, client_id=CLIENT_ID, roles=list(roles)
        )


def make_org(world: World) -> Org:
    """A fresh tenant with a unique domain (tests share one world)."""
    with world.lock:
        d = directory(world)
        tenant = d.add_tenant(f"org{uuid.uuid4().hex[:8]}.example")
        alice = d.add_user(tenant, "alice", "Alice Archer")
        bob = d.add_user(tenant, "bob", "Bob Baker")
        room_accept = d.add_user(tenant, "room.orion", "Orion Room", kind="room", capacity=8)
        room_accept.building = "North"
        room_busy = d.add_user(
            tenant, "room.vega", "Vega Room", kind="room", room_policy="decline_when_busy",
            capacity=4,
        )  # fmt: skip
        room_silent = d.add_user(
            tenant, "room.lyra", "Lyra Room", kind="room", room_policy="never_answer", capacity=12
        )
    return Org(world, tenant, alice, bob, room_accept, room_busy, room_silent)


@pytest.fixture
def org(graph_sim: GraphSim) -> Org:
    return make_org(graph_sim.world)


@dataclass
class Receiver:
    """A notification endpoint: records posts, echoes validation tokens, can misbehave."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    validations: list[str] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many notification posts
    delay_next: float = 0.0  # sleep this long before answering the next notification post
    echo: Callable[[str], str] = lambda token: token
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                items = list(self.received)
            if predicate(items):
                return items
            time.sleep(0.05)
        raise AssertionError(f"condition not met; received {items}")


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    rec = Receiver()

    async def handle(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            rec.validations.append(token)
            return PlainTextResponse(rec.echo(token))
        body = await request.json()
        with rec.lock:
            delay, rec.delay_next = rec.delay_next, 0.0
            failing = rec.fail_next > 0
            if failing:
                rec.fail_next -= 1
        if delay:
            time.sleep(delay)  # a slow endpoint, blocking like a busy worker
        if failing:
            return JSONResponse({"error": "busy"}, status_code=500)
        with rec.lock:
            rec.received.append({"path": request.url.path, "body": body})
        return Response(status_code=202)

    app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])
    server, thread, port = _serve(app)
    rec.url = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    """The session's receiver, emptied and well-behaved again for this test."""
    with receiver_server.lock:
        receiver_server.received.clear()
        receiver_server.validations.clear()
        receiver_server.fail_next = 0
        receiver_server.delay_next = 0.0
        receiver_server.echo = lambda token: token
    return receiver_server


def event_body(subject: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
        **extra,
    }


def room_attendee(room: MsUser) -> dict[str, Any]:
    return {"type": "resource", "emailAddress": {"address": room.mail, "name": room.display_name}}


def poll(fn: Callable[[], Any], predicate: Callable[[Any], bool], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; last value {value!r}")
        time.sleep(0.05)
