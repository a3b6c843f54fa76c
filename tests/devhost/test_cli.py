"""``python -m devhost`` serves an app given as module:attribute and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devhost.azurite import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_the_app_on_the_port_from_local_settings_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": {}, "Host": {"LocalHttpPort": port}}))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devhost",
            "--app",
            "tests.devhost.cli_app:app",
            "--app-dir",
            str(tmp_path),
            "--settings",
            str(settings),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/greet/Cli", trust_env=False)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the CLI host never started serving"
                time.sleep(0.1)
        assert response.text == "hello Cli"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert f"greet: [ALL] http://127.0.0.1:{port}/api/greet/{{name:alpha}}" in output
    assert "nightly: timerTrigger (POST /admin/functions/nightly)" in output
