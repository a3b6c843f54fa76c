"""``DevHost``: run a v2-model Python FunctionApp locally, the way the Azure Functions host would.

Azure Functions Core Tools cannot be installed offline, so this is the host for ``make run`` and the
end-to-end tests. It serves HTTP triggers on uvicorn, fires timer triggers on their NCRONTAB
schedules, polls storage queues for queue triggers and offers the admin API
``POST /admin/functions/{name}`` to run a non-HTTP function on demand.

Typical use::

    host = DevHost("function_app:app", settings={"AzureWebJobsStorage": conn}).start()
    httpx.get(f"{host.base_url}/api/health")
    host.invoke("consent_purge")          # runs a timer function now, returns or raises
    host.stop()

Constructing a host indexes the app and validates routes, schedules and settings; nothing touches
the network until ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
from collections import ChainMap
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.timer import TimerRequest

from devhost import functions
from devhost.config import ROOT, HostSettings, resolve_app_settings
from devhost.functions import HTTP, QUEUE, TIMER, FunctionEntry
from devhost.http import HttpFunction
from devhost.queues import QueueListener, message_from_input
from devhost.timers import TimerSchedule

ADMIN_REASON = "This function was programmatically called via the host APIs."


class DevHost:
    """A local Functions host for one FunctionApp.

    Args:
        app: the ``FunctionApp`` itself or ``"module:attribute"`` importable from ``app_dir``.
        app_dir: the function app folder (``host.json`` lives there); defaults to the repo root.
        settings: app settings that take precedence over ``os.environ`` when the host resolves
            queue connections (``AzureWebJobsStorage`` ...) and ``%Name%`` expressions. The app's
            own code still reads ``os.environ``.
        host_settings: use these instead of reading ``app_dir/host.json``.
        shutdown_grace: seconds ``stop`` lets running invocations finish.
        access_log: log every HTTP request (uvicorn's access log).
        timers: fire timer triggers on their schedule (wall-clock). Tests that drive the app's
            clock by hand turn this off and run timers with :meth:`invoke`, because a timer
            firing on the wall clock in the middle of a scenario adds a sync cycle the scenario
            did not ask for.

    Raises:
        devhost.functions.UnsupportedFunction: a trigger or binding the host cannot run.
        ValueError / KeyError: a bad route template, schedule or missing ``%Name%`` setting.
    """

    def __init__(
        self,
        app: func.FunctionApp | str = "function_app:app",
        *,
        app_dir: Path | str | None = None,
        settings: Mapping[str, str] | None = None,
        host_settings: HostSettings | None = None,
        shutdown_grace: float = 10.0,
        access_log: bool = False,
        timers: bool = True,
    ) -> None:
        self.app_dir = Path(app_dir) if app_dir is not None else ROOT
        self.settings: ChainMap[str, str] = ChainMap(dict(settings or {}), os.environ)
        self.host_settings = host_settings or HostSettings.load(self.app_dir)
        self.shutdown_grace = shutdown_grace
        self.access_log = access_log
        self.timers = timers
        self.app = functions.load_app(app, self.app_dir)
        self.functions: dict[str, FunctionEntry] = {e.name: e for e in functions.discover(self.app)}
        self.http_functions = [
            HttpFunction(e, self.host_settings.route_prefix)
            for e in self.functions.values()
            if e.trigger_type == HTTP
        ]
        self.schedules = {
            e.name: TimerSchedule(resolve_app_settings(e.trigger.schedule, self.settings))
            for e in self.functions.values()
            if e.trigger_type == TIMER
        }
        self.queue_names = {
            # The host lower-cases queue names; Azure queue names are lower case only.
            e.name: resolve_app_settings(e.trigger.queue_name, self.settings).lower()
            for e in self.functions.values()
            if e.trigger_type == QUEUE
        }
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._address: tuple[str, int] | None = None
        self.listening_socket: socket.socket | None = None
        self._listeners: list[QueueListener] = []
        self._in_flight = 0
        self._count_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running host (no trailing slash, no route prefix)."""
        if self._address is None:
            raise RuntimeError("the host is not started")
        host, port = self._address
        # A wildcard listen address is reached through loopback.
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"  # noqa: S104

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> DevHost:
        """Serve in a background thread; returns once HTTP is accepting and queues are ready.

        ``port=0`` picks a free port (see ``base_url``). Raises whatever stopped the start
        (a missing connection setting, storage unreachable, port in use).
        """
        if self._thread is not None:
            raise RuntimeError("the host is already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit TCP_NODELAY from the listening socket on Linux. Without
        # it every keep-alive request waits ~40 ms (Nagle's algorithm against delayed ACKs).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        self.listening_socket = sock
        self._address = (host, sock.getsockname()[1])
        ready = threading.Event()
        failure: list[BaseException] = []
        from devhost.runtime import serve

        def main() -> None:
            try:
                asyncio.run(serve(self, sock, ready))
            except BaseException as exc:
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=main, name="devhost", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"the local host did not start within {timeout} s")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop HTTP, timers and queue polling; running invocations get ``shutdown_grace`` s."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have finished already
                loop.call_soon_threadsafe(stopping.set)
        thread.join(self.shutdown_grace + 15)
        self._thread = None
        self._loop = None
        self._address = None
        self._listeners = []

    def serve_forever(self, host: str = "127.0.0.1", port: int = 7071) -> None:
        """Serve until Ctrl-C or SIGTERM (for the CLI), then stop cleanly."""
        self.start(host, port)
        done = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            while not done.wait(0.5):
                if not self.running:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.stop()

    def __enter__(self) -> DevHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- invocation --------------------------------------------------------------------------

    def trigger_value(self, name: str, input: str | None) -> tuple[FunctionEntry, Any]:
        """The entry and the trigger argument an on-demand run passes (admin API semantics)."""
        entry = self.functions[name]  # KeyError for an unknown function
        if entry.trigger_type == TIMER:
            return entry, TimerRequest(past_due=False)
        if entry.trigger_type == QUEUE:
            return entry, message_from_input(input)
        raise ValueError(f"{name} is an HTTP function; call its route instead")

    def invoke(self, name: str, input: str | None = None, timeout: float | None = None) -> Any:
        """Run a timer or queue function now and wait; returns its result or raises its error.

        Runs on the host's loop and thread pool when started, else on a private loop. A queue
        function gets a ``QueueMessage`` whose body is ``input`` (UTF-8), as the admin API does.
        """
        entry, value = self.trigger_value(name, input)
        call = self.run(entry, value, ADMIN_REASON)
        loop = self._loop
        if loop is not None and self.running and not loop.is_closed():
            return asyncio.run_coroutine_threadsafe(call, loop).result(timeout)
        return asyncio.run(call)

    def admin_invoke(self, name: str, input: str | None) -> None:
        """Start a run in the background on the host loop (``POST /admin/functions/{name}``)."""
        entry, value = self.trigger_value(name, input)
        task = asyncio.get_running_loop().create_task(self._quietly(entry, value))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _quietly(self, entry: FunctionEntry, value: Any) -> None:
        # A failure was logged with its traceback by the invoker; nobody waits for the result.
        with contextlib.suppress(Exception):
            await self.run(entry, value, ADMIN_REASON)

    async def run(self, entry: FunctionEntry, value: Any, reason: str) -> Any:
        """Invoke ``entry`` on the running loop (what triggers call)."""
        with self._count_lock:
            self._in_flight += 1
        try:
            return await functions.invoke(entry, value, reason, self.app_dir)
        finally:
            with self._count_lock:
                self._in_flight -= 1

    def wait_until_idle(self, timeout: float = 30.0, settle: float = 0.3) -> None:
        """Block until no invocation runs and every queue this host listens to is empty,
        continuously for ``settle`` seconds; for end-to-end tests that trigger queued work.

        Messages hidden by a visibility delay (a Retry-After, a retry after failure) count as
        pending, so such a delay longer than ``timeout`` ends in ``TimeoutError``. Messages moved
        to a poison queue no longer count.
        """
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while True:
            now = time.monotonic()
            if self._in_flight or any(self._queue_depths()):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= settle:
                return
            if now > deadline:
                raise TimeoutError(f"the local host was still busy after {timeout} s")
            time.sleep(0.05)

    def _queue_depths(self) -> list[int]:
        # The approximate count includes messages that are invisible while being processed.
        return [
            listener.client.get_queue_properties().approximate_message_count or 0
            for listener in self._listeners
        ]

    def connection_string(self, entry: FunctionEntry) -> str:
        """The storage connection string for a queue trigger's ``connection`` setting."""
        name = getattr(entry.trigger, "connection", None) or "AzureWebJobsStorage"
        # The host also accepts the setting with an AzureWebJobs prefix.
        for candidate in (name, f"AzureWebJobs{name}"):
            value = self.settings.get(candidate)
            if value:
                return value
        raise KeyError(
            f"function {entry.name}: storage connection setting {name!r} is not set "
            "(identity-based connections are not supported by the local host)"
        )

    def thread_count(self) -> int:
        """Worker threads for sync functions: PYTHON_THREADPOOL_THREAD_COUNT, as the worker."""
        configured = self.settings.get("PYTHON_THREADPOOL_THREAD_COUNT")
        return int(configured) if configured else min(32, (os.cpu_count() or 1) + 4)

    def _attach(
        self,
        loop: asyncio.AbstractEventLoop,
        stopping: asyncio.Event,
        listeners: list[QueueListener],
    ) -> None:
        self._loop, self._stopping, self._listeners = loop, stopping, listeners

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.thread_count(), thread_name_prefix="devhost-fn")
