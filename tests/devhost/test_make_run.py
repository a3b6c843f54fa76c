"""`make run` (python -m devhost.run): everything starts, answers health, and stops on a signal."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devhost.azurite import free_port, pid_file_for, stop_leftover
from devhost.config import ROOT


def _command(ports: list[int], tmp_path: Path) -> list[str]:
    return [
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
        str(tmp_path / "local.settings.json"),
        "--state-dir",
        str(tmp_path / "state"),
    ]


def _wait_for_health(process: subprocess.Popen[str], app_port: int) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return httpx.get(f"http://127.0.0.1:{app_port}/api/health", trust_env=False)
        except httpx.TransportError:
            time.sleep(0.2)
    output = process.stdout.read() if process.stdout and process.poll() is not None else ""
    raise AssertionError(f"make run did not answer health: {output}")


def _answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", trust_env=False, timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_make_run_serves_health_and_stops_everything_on_a_signal(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(5)]
    settings = tmp_path / "local.settings.json"
    command = _command(ports, tmp_path)
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


def test_a_run_after_a_killed_run_stops_the_azurite_it_left_behind(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(5)]
    azurite_ports = ports[2:]
    first = subprocess.Popen(
        _command(ports, tmp_path),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert _wait_for_health(first, ports[0]).status_code == 200
    finally:
        first.kill()  # no cleanup runs: Azurite (its own session) keeps the ports
        first.communicate(timeout=60)
    pid_file = pid_file_for((tmp_path / "state" / "azurite-data").resolve())
    leftover = int(json.loads(pid_file.read_text())["pid"])
    try:
        assert all(_answers(port) for port in azurite_ports)
        second = subprocess.Popen(
            _command(ports, tmp_path),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            health = _wait_for_health(second, ports[0])
            assert health.status_code == 200, health.text
        finally:
            second.send_signal(signal.SIGINT)
            output, _ = second.communicate(timeout=60)
    finally:
        # Whatever happened above, the Azurite this test left behind does not outlive it (and
        # only that process: its command line still names this test's data folder).
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{leftover}/cmdline").read_bytes().replace(b"\0", b" ")
            if str(pid_file.with_suffix("")).encode() in command:
                os.killpg(leftover, signal.SIGKILL)
    assert second.returncode == 0, output
    assert "a previous run left behind" in output
    assert not any(_answers(port) for port in ports)
    assert not pid_file.exists()


def test_a_pid_file_naming_another_process_stops_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "azurite-data"
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        pid_file_for(data_dir).write_text(json.dumps({"pid": other.pid}))
        assert stop_leftover(data_dir) is None
        assert other.poll() is None
        assert not pid_file_for(data_dir).exists()
    finally:
        other.kill()
        other.wait()
