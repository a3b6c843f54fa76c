"""Session fixtures: real Azurite and the provider simulator, started once per test run.

``make test`` installs both; these fixtures start them on free loopback ports and stop them at the
end, so ``pytest`` alone works too once ``make install`` has run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite, start_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A running Azurite with in-memory storage, shared by the whole session."""
    with start_azurite() as running:
        yield running


@pytest.fixture(scope="session")
def simulator_cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("simulator-certs")


@pytest.fixture(scope="session")
def simulator(simulator_cert_dir: Path) -> Iterator[object]:
    """The provider simulator over HTTPS in a background thread (a ``SimulatorServer``)."""
    from simulator.server import SimulatorServer

    server = SimulatorServer.start(simulator_cert_dir)
    try:
        yield server
    finally:
        server.stop()
