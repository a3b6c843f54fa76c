"""Moving the seeded simulator into a process of its own, so the figures measure the service.

Seeding needs the simulator's state in this process (directory users, admin consent and sign-ins
are made in-process: :mod:`bench.sync_stack`). Once seeded, :func:`serve_in_child` stops the
simulator's server thread here, forks, and serves the same state (the fork's copy of the world)
from a child process on the same port with the same certificates, so every URL, token and
subscription stays valid. From then on this process reaches the simulator over HTTPS only, and
the simulator no longer competes with the service for this interpreter.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable
from pathlib import Path

from simulator.server import SimulatorServer
from simulator.world import World


def _serve(world: World, cert_dir: Path, port: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    deadline = time.monotonic() + 10
    while True:
        try:
            SimulatorServer.start(cert_dir, world=world, port=port)
            break
        except OSError:  # the port is released a moment after the thread here stopped
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    while True:
        time.sleep(3600)


def serve_in_child(simulator: SimulatorServer, cert_dir: Path) -> Callable[[], None]:
    """Serve ``simulator``'s world from a child process; returns the function that stops it."""
    simulator.stop()
    child = multiprocessing.get_context("fork").Process(
        target=_serve, args=(simulator.world, cert_dir, simulator.port), daemon=True
    )
    child.start()

    def stop() -> None:
        child.terminate()
        child.join(timeout=10)

    return stop
