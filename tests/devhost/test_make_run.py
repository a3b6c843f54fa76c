"""`make run` (python -m devhost.run): everything starts, answers health, and stops on a signal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devhost.azurite import free_port
from devhost.config import ROOT


def test_make_run_serves_health_and_stops_everything_on_a_signal(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(5)]
    settings = tmp_path / "local.settings.json"
    command = [
        sys.executable,
        "-m",
        "devhost.run",
        "--app-port",
        str(ports[0]),
        "--simulator-port",
        str(ports[1]),
        "--azurite-ports",
        *map(str, ports[2:]),
        "--settings",
        str(settings),
        "--state-dir",
        str(tmp_path / "state"),
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{ports[0]}/api/health", trust_env=False)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, process.stdout.read() if process.stdout else ""
        assert health.status_code == 200, health.text
        assert health.json()["checks"] == {
            "tables": {"status": "ok"},
            "queues": {"status": "ok"},
            "secrets": {"status": "ok"},
        }
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert f"http://localhost:{ports[0]}/api" in output
    values = json.loads(settings.read_text())["Values"]
    assert len(values["LOCAL_SECRETS_KEY"]) >= 43
    assert len(values["AUTH_SHARED_SECRET"]) >= 43
    # Nothing it started is left listening.
    for port in ports:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", trust_env=False, timeout=1)
        except httpx.TransportError:
            continue
        raise AssertionError(f"port {port} still answers after make run stopped")
