"""`make run` on other ports: a sign-in works end to end, and survives a restart of everything.

The simulator's demo app registrations follow the app's port (before, ``--app-port 7171`` broke
sign-in with AADSTS50011), and the simulator keeps its world across restarts as Azurite keeps its
data (before, a restart turned every connected user into ``reconnect_needed``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from devhost.azurite import free_port
from devhost.config import ROOT
from devhost.run import build_parser
from shared.auth.mint import mint
from shared.settings import Settings, load_settings
from simulator import demo
from simulator.client import SimulatorClient
from tests.devhost.test_make_run import _command
from tests.e2e.conftest import RETURN_TO
from tests.e2e.test_workspace_microsoft import connect, create_and_test, enable


class LocalRun:
    """Enough of the end-to-end ``Stack`` for its sign-in helpers, over a ``make run``."""

    def __init__(self, app_port: int, simulator_port: int, state: Path, settings: Settings):
        self.base_url = f"http://localhost:{app_port}"
        self.http = httpx.Client(base_url=self.base_url, trust_env=False, timeout=60)
        self.sim = SimulatorClient(
            f"https://127.0.0.1:{simulator_port}", state / "simulator" / "ca.pem"
        )
        self.settings = settings

    def call(
        self, method: str, path: str, *, org: str, sub: str, roles: tuple[str, ...] = (), **kw: Any
    ) -> httpx.Response:
        token = mint(self.settings, org=org, sub=sub, roles=roles)
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return self.http.request(method, f"/api/{path}", headers=headers, **kw)

    def follow_callback(self, callback_url: str) -> httpx.Response:
        assert callback_url.startswith(self.base_url), callback_url
        return self.http.get(callback_url.removeprefix(self.base_url))

    def close(self) -> None:
        self.http.close()
        self.sim.close()


def _start(ports: list[int], tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ALLOWED_RETURN_URLS": RETURN_TO.rsplit("/", 1)[0]}
    process = subprocess.Popen(
        _command(ports, tmp_path),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{ports[0]}/api/health", trust_env=False)
            return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    output, _ = process.communicate(timeout=60)
    raise AssertionError(f"make run did not start: {output}")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 0, output
    return output


def test_help_describes_every_option() -> None:
    parser = build_parser()
    for action in parser._actions:
        assert action.help, action.option_strings
    text = parser.format_help()
    options = ("--app-port", "--simulator-port", "--azurite-ports", "--settings", "--state-dir")
    for option in options:
        assert option in text


def test_sign_in_on_other_ports_and_a_restart_keeps_the_user_connected(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(5)]
    assert ports[0] != 7071
    state = tmp_path / "state"
    org, person = "contoso-local", "alex"
    admin, user = (f"{name}@{demo.DOMAIN}" for name in ("megan.bowen", "alex.wilber"))

    process = _start(ports, tmp_path)
    run = None
    try:
        settings = load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "local.settings.json")})
        run = LocalRun(ports[0], ports[1], state, settings)
        # The demo administrator has something coming up for the test flow's preview.
        assert any(e["subject"] == "Weekly planning (demo)" for e in run.sim.graph.events(admin))
        integration = create_and_test(run, org, "ada", admin, consent_for_org=True)
        enable(run, org, integration)
        assert connect(run, org, person, user) == {"calendar": "connected"}
        assert run.call("GET", f"orgs/{org}/me/events", org=org, sub=person).status_code == 200
    finally:
        if run is not None:
            run.close()
        _stop(process)

    process = _start(ports, tmp_path)
    try:
        run = LocalRun(ports[0], ports[1], state, settings)
        status = run.call("GET", f"orgs/{org}/me/calendar", org=org, sub=person)
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "connected"
        # A live read redeems the stored refresh token at the restarted simulator.
        events = run.call("GET", f"orgs/{org}/me/events", org=org, sub=person)
        assert events.status_code == 200, events.text
        again = run.call("GET", f"orgs/{org}/me/calendar", org=org, sub=person)
        assert again.json()["status"] == "connected"
        run.close()
    finally:
        _stop(process)
