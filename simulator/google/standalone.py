"""Serve only the Google area over HTTPS (development of this area; ``python -m`` not needed).

:class:`simulator.server.SimulatorServer` is the normal way to run the simulator; this runs the
Google routes alone, with the same TLS setup, for working on this area while others are incomplete.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from simulator.certs import CertPaths, ensure_certificates
from simulator.google.routes import routes
from simulator.world import World


@dataclass
class GoogleOnlyServer:
    world: World
    certs: CertPaths
    base_url: str


@contextmanager
def serve(cert_dir: Path) -> Iterator[GoogleOnlyServer]:
    """Run the Google routes on a free loopback port until the block exits."""
    certs = ensure_certificates(cert_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    world = World()
    world.base_url = f"https://127.0.0.1:{port}"
    app = Starlette(routes=routes(world))
    config = uvicorn.Config(
        app,
        ssl_certfile=str(certs.server_cert),
        ssl_keyfile=str(certs.server_key),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("Google simulator did not start")
        time.sleep(0.01)
    try:
        yield GoogleOnlyServer(world=world, certs=certs, base_url=world.base_url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
