"""The simulator's web app and the uvicorn server that runs it over HTTPS.

Each area module exposes ``routes(world) -> list[BaseRoute]``; :func:`build_app` mounts them in
the order of :data:`AREAS`. Prefixed areas come first; the Microsoft identity platform is last
because its paths start with a tenant segment (``/{tenant}/oauth2/v2.0/...``), as on
login.microsoftonline.com.

URL map (``base`` = ``https://127.0.0.1:<port>``)::

    base/_sim/...                      control API (tests, demos)
    base/keyvault                      a Key Vault's vault URL
    base/google/...                    Google OAuth, Calendar v3, Admin directory
    base/graph/v1.0/...                Microsoft Graph
    base/{tenant}/...                  Microsoft identity platform (the msal authority host)
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from simulator.certs import CertPaths, ensure_certificates
from simulator.world import World

AREAS = [
    "simulator.control",
    "simulator.keyvault",
    "simulator.google.routes",
    "simulator.microsoft.graph.routes",
    "simulator.microsoft.identity",
]


def build_app(world: World, areas: Sequence[str] | None = None) -> Starlette:
    """The ASGI app serving every area of the simulated world (or only ``areas``, in order)."""
    routes: list[BaseRoute] = []
    for name in AREAS if areas is None else areas:
        routes.extend(importlib.import_module(name).routes(world))
    app = Starlette(routes=routes)
    app.state.world = world
    faults = importlib.import_module("simulator.faults")
    return faults.wrap(app, world)  # type: ignore[no-any-return]


@dataclass
class SimulatorServer:
    """A running simulator: ``base_url``, the CA to trust, and ``stop()``.

    Use :meth:`start` to run it in a background thread of the current process (tests), or the
    ``python -m simulator`` command for a process of its own (``make run``).
    """

    world: World
    certs: CertPaths
    host: str = "127.0.0.1"
    port: int = 0
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _saver: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @classmethod
    def start(
        cls,
        cert_dir: Path,
        *,
        world: World | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        areas: Sequence[str] | None = None,
        state_file: Path | None = None,
    ) -> SimulatorServer:
        """Start serving in a daemon thread and return once the socket accepts connections.

        ``areas`` restricts the app to some area modules (a subset of :data:`AREAS`, in that
        order), for tests of one area. With ``state_file`` the world is loaded from it when it
        exists and saved to it while running and on :meth:`stop` (:mod:`simulator.persistence`).
        """
        certs = ensure_certificates(cert_dir)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Accepted connections inherit this: without it small responses wait on Nagle's
        # algorithm and every request costs ~40 ms instead of ~1 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = sock.getsockname()[1]
        if world is None and state_file is not None:
            from simulator import persistence

            world = persistence.load(state_file)
        world = world or World()
        server = cls(world=world, certs=certs, host=host, port=port)
        world.base_url = server.base_url
        config = uvicorn.Config(
            build_app(world, areas),
            ssl_certfile=str(certs.server_cert),
            ssl_keyfile=str(certs.server_key),
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=30,
        )
        server._server = uvicorn.Server(config)
        server._thread = threading.Thread(
            target=server._server.run, kwargs={"sockets": [sock]}, daemon=True, name="simulator"
        )
        server._thread.start()
        if state_file is not None:
            from simulator import persistence

            server._saver = persistence.Saver(world, state_file)
        deadline = time.monotonic() + 15
        while not server._server.started:
            if time.monotonic() > deadline or not server._thread.is_alive():
                raise RuntimeError("simulator did not start")
            time.sleep(0.01)
        return server

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._saver is not None:
            self._saver.stop()  # after the last request: the final save is complete
            self._saver = None

    def __enter__(self) -> SimulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
