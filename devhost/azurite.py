"""Start and stop Azurite (the Azure Storage emulator) from the project-local npm install.

``make`` installs Azurite into ``.local/azurite``; this module finds free loopback ports, starts
it with in-memory persistence (or a data folder), waits until every service accepts connections
and hands back the connection string the storage SDKs use.

With a data folder (``make run``) it also writes a pid file next to that folder, so that an
Azurite left behind by a run that died (killed, crashed: Azurite runs in its own session and
outlives it) is found and stopped by the next run instead of holding the ports. A process is
stopped only when its command line is this Azurite binary serving that same data folder; a pid
reused by anything else is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / ".local" / "azurite" / "node_modules" / ".bin" / "azurite"

# The well-known development account every Azure Storage emulator accepts.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    """Ask the kernel for an unused loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"Azurite did not open port {port} in time")


@dataclass
class Azurite:
    """A running Azurite process and the endpoints it serves."""

    blob_port: int
    queue_port: int
    table_port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    pid_file: Path | None = field(default=None, repr=False)

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{DEV_ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{DEV_ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{DEV_ACCOUNT};"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
        try:
            if self.process.poll() is not None:
                return
            # Azurite runs under node in its own process group; end the whole group.
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        finally:
            # The stderr pipe (read only when Azurite exits early) must be closed, or pytest's
            # warnings-as-errors turns the ResourceWarning into a teardown error.
            if self.process.stderr is not None:
                self.process.stderr.close()

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pid_file_for(data_dir: Path) -> Path:
    """Where the Azurite serving ``data_dir`` records its process id."""
    return data_dir.with_name(data_dir.name + ".pid")


def _command_line(pid: int) -> str:
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self/cmdline").exists():  # Linux: the full argv, NUL-separated
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return ""
    try:
        # -ww: never cut the line to the terminal's (or $COLUMNS') width.
        result = subprocess.run(
            ["ps", "-ww", "-o", "args=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_leftover(data_dir: Path, timeout: float = 15.0) -> int | None:
    """Stop the Azurite a previous run left serving ``data_dir``; its pid, or None.

    Only a process whose command line names Azurite and ``--location <data_dir>`` is stopped
    (its whole process group, SIGTERM then SIGKILL); a stale pid file is removed either way.
    """
    pid_file = pid_file_for(data_dir)
    try:
        recorded = json.loads(pid_file.read_text())
        pid = int(recorded["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        pid_file.unlink(missing_ok=True)
        return None
    command = _command_line(pid) if _alive(pid) else ""
    ours = "azurite" in command and f"--location {data_dir}" in command
    if not ours:
        pid_file.unlink(missing_ok=True)
        return None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if not _alive(pid):
            break
    pid_file.unlink(missing_ok=True)
    return pid


def start_azurite(
    *,
    blob_port: int | None = None,
    queue_port: int | None = None,
    table_port: int | None = None,
    data_dir: Path | None = None,
    timeout: float = 30.0,
) -> Azurite:
    """Start Azurite on the given (or free) ports and wait until it serves.

    ``data_dir`` keeps data between runs (``make run``); without it Azurite keeps everything in
    memory, which is what tests want. ``--skipApiVersionCheck`` is needed because the storage SDKs
    can default to a newer REST API version than the pinned Azurite accepts.
    """
    binary = AZURITE_BIN if AZURITE_BIN.exists() else shutil.which("azurite")
    if binary is None:
        raise FileNotFoundError(
            f"Azurite is not installed at {AZURITE_BIN}; run `make install` (or `make test`) first"
        )
    azurite = Azurite(
        blob_port=blob_port or free_port(),
        queue_port=queue_port or free_port(),
        table_port=table_port or free_port(),
    )
    args = [
        str(binary),
        "--silent",
        "--skipApiVersionCheck",
        # Azurite 3.x collects telemetry by default: it tries to reach the cloud (and the instance
        # metadata address) and then spends about 5 s flushing on every stop.
        "--disableTelemetry",
        "--disableProductStyleUrl",
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(azurite.blob_port),
        "--queueHost",
        "127.0.0.1",
        "--queuePort",
        str(azurite.queue_port),
        "--tableHost",
        "127.0.0.1",
        "--tablePort",
        str(azurite.table_port),
    ]
    if data_dir is None:
        args.append("--inMemoryPersistence")
    else:
        data_dir = data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(data_dir)]
    azurite.process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if data_dir is not None:
        azurite.pid_file = pid_file_for(data_dir)
        azurite.pid_file.write_text(
            json.dumps({"pid": azurite.process.pid, "location": str(data_dir)}) + "\n"
        )
    deadline = time.monotonic() + timeout
    try:
        for port in (azurite.blob_port, azurite.queue_port, azurite.table_port):
            _wait_for_port(port, deadline)
            if azurite.process.poll() is not None:
                err = azurite.process.stderr.read().decode() if azurite.process.stderr else ""
                raise RuntimeError(f"Azurite exited early: {err.strip()}")
    except BaseException:
        azurite.stop()
        raise
    return azurite
