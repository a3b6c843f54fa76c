"""The event loop side of ``DevHost``: uvicorn, timer tasks and queue listeners on one loop.

Imported by ``DevHost.start`` only, so importing ``devhost.host`` stays cheap (no uvicorn, no
storage SDK) and does no network work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import uvicorn
from azure.storage.queue import QueueClient

from devhost.functions import QUEUE, TIMER
from devhost.http import build_app
from devhost.queues import QueueListener
from devhost.timers import run_timer

if TYPE_CHECKING:
    from devhost.host import DevHost

logger = logging.getLogger("devhost")


def _listeners(host: DevHost, io: ThreadPoolExecutor) -> list[QueueListener]:
    listeners = []
    for entry in host.functions.values():
        if entry.trigger_type != QUEUE:
            continue
        connection = host.connection_string(entry)
        name = host.queue_names[entry.name]
        listeners.append(
            QueueListener(
                entry,
                QueueClient.from_connection_string(connection, name),
                QueueClient.from_connection_string(connection, f"{name}-poison"),
                host.host_settings.queues,
                host.run,
                io,
            )
        )
    return listeners


async def serve(host: DevHost, sock: socket.socket, ready: threading.Event) -> None:
    """Run everything until the host's stop event is set; ``ready`` is set once serving."""
    loop = asyncio.get_running_loop()
    executor = host._new_executor()
    io = ThreadPoolExecutor(4, thread_name_prefix="devhost-storage")
    loop.set_default_executor(executor)
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    server: uvicorn.Server | None = None
    listeners: list[QueueListener] = []
    try:
        listeners = _listeners(host, io)
        host._attach(loop, stopping, listeners)
        await asyncio.gather(*(listener.prepare() for listener in listeners))
        config = uvicorn.Config(
            build_app(host.http_functions, host.run, host.admin_invoke),
            log_config=None,
            access_log=host.access_log,
            lifespan="off",
            timeout_graceful_shutdown=max(1, int(host.shutdown_grace)),
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if serving.done():
                serving.result()  # raises what stopped uvicorn
                raise RuntimeError("uvicorn stopped before it started serving")
            await asyncio.sleep(0.01)
        tasks = [
            asyncio.create_task(run_timer(e, host.schedules[e.name], host.run, stopping))
            for e in host.functions.values()
            if e.trigger_type == TIMER and host.timers
        ]
        tasks += [
            asyncio.create_task(listener.listen(stopping, host.shutdown_grace))
            for listener in listeners
        ]
        logger.info(
            "Local host serving %d function(s) at http://%s:%d",
            len(host.functions),
            *sock.getsockname()[:2],
        )
        ready.set()
        await stopping.wait()
        server.should_exit = True
        await serving
    finally:
        stopping.set()
        if server is not None:
            server.should_exit = True
        background = [*tasks, *host._background]
        if background:
            _, pending = await asyncio.wait(background, timeout=host.shutdown_grace + 1)
            for task in pending:
                task.cancel()
        sock.close()
        for listener in listeners:
            # Keep-alive connections left open would hold up Azurite's shutdown.
            listener.client.close()
            listener.poison.close()
        io.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            executor.shutdown(wait=False, cancel_futures=True)
