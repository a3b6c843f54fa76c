"""The simulator's world kept on disk across restarts, as Azurite keeps its data.

Without it every ``make run`` restart forgot the refresh tokens, subscriptions and channels the
simulator had issued, while Azurite and the local secret store still held them: every connected
user became ``reconnect_needed``. The world is pickled (a local development file, written and
read only by this simulator) every few seconds and when the server stops, and loaded when it
starts.

Private keys (the token signing key) are saved as PEM. What cannot outlive the process is
replaced when saving: locks and conditions by new ones,
queues by empty ones, threads, thread pools and the Graph delivery dispatcher by ``None`` (each
is created again on first use), and closures (pending deliveries, change listeners) by a no-op.
The one listener that matters, Google's change feed to its push channels, is registered again by
:func:`_reattach` after loading.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import queue
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from simulator.world import World

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 5.0
_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())


def _none() -> None:
    return None


def _private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


def _ignore(*args: Any, **kwargs: Any) -> None:
    """Stands in for a closure that could not be saved."""


def _ignored() -> Any:
    return _ignore


class _WorldPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        from simulator.microsoft.graph.dispatch import Dispatcher

        if isinstance(obj, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            # Token signing keys: tokens issued before a restart must still verify after it.
            pem = obj.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return (_private_key, (pem,))
        if isinstance(obj, _RLOCK):
            return (threading.RLock, ())
        if isinstance(obj, _LOCK):
            return (threading.Lock, ())
        if isinstance(obj, threading.Condition):
            return (threading.Condition, ())
        if isinstance(obj, queue.Queue):
            return (queue.Queue, ())
        if isinstance(obj, (threading.Thread, ThreadPoolExecutor, Dispatcher)):
            return (_none, ())
        if isinstance(obj, types.FunctionType) and (
            obj.__closure__ is not None or obj.__name__ == "<lambda>"
        ):
            return (_ignored, ())
        return NotImplemented


def dumps(world: World) -> bytes:
    buffer = io.BytesIO()
    with world.lock:
        _WorldPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(world)
    return buffer.getvalue()


def save(world: World, path: Path) -> None:
    """Write the world to ``path`` atomically."""
    data = dumps(world)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def load(path: Path) -> World | None:
    """The world saved at ``path``, or None when there is none (or it cannot be read)."""
    if not path.exists():
        return None
    try:
        world = pickle.loads(path.read_bytes())
    except Exception as exc:  # a file from an older simulator: start fresh, say so
        log.warning("simulator state %s not loaded (%s); starting fresh", path, exc)
        return None
    if not isinstance(world, World):
        return None
    _reattach(world)
    return world


def _reattach(world: World) -> None:
    from simulator.google import channels, store

    saved = world._areas.pop("google.channels", None)
    if "google.calendars" in world._areas:
        feed = store.store(world)
        feed.listeners[:] = [f for f in feed.listeners if f is not _ignore]
    if saved is not None:
        fresh = channels.channels(world)  # registers the change listener again
        fresh.channels = saved.channels
        fresh.log = saved.log


class Saver:
    """Saves the world every :data:`SAVE_EVERY_SECONDS` and once more on :meth:`stop`."""

    def __init__(self, world: World, path: Path) -> None:
        self._world = world
        self._path = path
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="simulator-saver")
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(SAVE_EVERY_SECONDS):
            self._save()

    def _save(self) -> None:
        try:
            save(self._world, self._path)
        except Exception:
            log.exception("simulator state not saved to %s", self._path)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)
        self._save()
