"""Settings the local host reads the way the Azure Functions host does: host.json and app settings.

Only the parts of ``host.json`` this app relies on are read: ``extensions.http.routePrefix`` and
``extensions.queues``. Defaults and meanings follow the host.json reference for the Storage queue
extension 5.x: https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$")
_APP_SETTING_REF = re.compile(r"%([^%]+)%")


def parse_timespan(value: str | int | float) -> float:
    """Seconds in a .NET TimeSpan string (``[d.]hh:mm:ss[.fffffff]``).

    A bare number is read as milliseconds, which is how Functions 1.x wrote
    ``maxPollingInterval``; 2.x and later use TimeSpan strings.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a TimeSpan: {value!r}")
    if isinstance(value, int | float):
        return float(value) / 1000.0
    match = _TIMESPAN.match(value.strip())
    if match is None:
        raise ValueError(f"not a TimeSpan (expected hh:mm:ss): {value!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float(f"0.{fraction}") if fraction else 0.0)


@dataclass(frozen=True)
class QueueSettings:
    """``extensions.queues`` of host.json, with the host's documented defaults.

    ``new_batch_threshold`` defaults to ``batch_size // 2``; the real host multiplies that by
    the number of vCPUs, which does not matter for one local process.
    """

    batch_size: int = 16
    new_batch_threshold: int = 8
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"

    # The host polls at least every 100 ms and backs off from there (see maxPollingInterval).
    min_polling_interval: float = 0.1

    @classmethod
    def from_json(cls, section: Mapping[str, Any]) -> QueueSettings:
        """Read the ``extensions.queues`` object; unknown keys are ignored like the host does."""
        batch_size = int(section.get("batchSize", 16))
        if not 1 <= batch_size <= 32:
            # The Queue service returns at most 32 messages per Get Messages call.
            raise ValueError(f"extensions.queues.batchSize must be 1..32, got {batch_size}")
        encoding = str(section.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise ValueError(
                f"extensions.queues.messageEncoding must be base64 or none: {encoding}"
            )
        return cls(
            batch_size=batch_size,
            new_batch_threshold=int(section.get("newBatchThreshold", batch_size // 2)),
            visibility_timeout=parse_timespan(section.get("visibilityTimeout", "00:00:00")),
            max_dequeue_count=int(section.get("maxDequeueCount", 5)),
            max_polling_interval=max(
                0.1, parse_timespan(section.get("maxPollingInterval", "00:01:00"))
            ),
            message_encoding=encoding,
        )


@dataclass(frozen=True)
class HostSettings:
    """What the local host takes from host.json."""

    route_prefix: str = "api"
    queues: QueueSettings = field(default_factory=QueueSettings)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> HostSettings:
        """Read a parsed host.json document (version 2.0 schema)."""
        extensions = document.get("extensions") or {}
        http = extensions.get("http") or {}
        return cls(
            route_prefix=str(http.get("routePrefix", "api")).strip("/"),
            queues=QueueSettings.from_json(extensions.get("queues") or {}),
        )

    @classmethod
    def load(cls, app_dir: Path) -> HostSettings:
        """Read ``app_dir/host.json``; a missing file gives the host's defaults."""
        path = app_dir / "host.json"
        if not path.exists():
            return cls()
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class LocalSettings:
    """The parts of local.settings.json the CLI uses."""

    values: dict[str, str]
    applied: list[str]
    http_port: int | None


def load_local_settings(
    path: Path, environ: MutableMapping[str, str] | None = None
) -> LocalSettings:
    """Copy ``Values`` of a local.settings.json into the environment, as Core Tools does.

    Variables already set win (Core Tools gives the environment precedence too), so a shell
    ``export`` or an orchestrator's choice is never overwritten. Returns what was read and the
    names actually applied. A missing file is an error: the caller asked for it by name.
    """
    target = os.environ if environ is None else environ
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("IsEncrypted"):
        raise ValueError(f"{path} is encrypted; decrypt it with Core Tools or rewrite it")
    values = {str(k): str(v) for k, v in (document.get("Values") or {}).items()}
    applied = []
    for name, value in values.items():
        if name not in target:
            target[name] = value
            applied.append(name)
    port = (document.get("Host") or {}).get("LocalHttpPort")
    return LocalSettings(values=values, applied=applied, http_port=int(port) if port else None)


def resolve_app_settings(value: str, settings: Mapping[str, str]) -> str:
    """Replace ``%Name%`` binding expressions with app settings, as the host does for queue
    names and timer schedules. An unknown setting is an error, as it is for the host."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise KeyError(f"app setting {name!r} referenced as %{name}% is not set")
        return settings[name]

    return _APP_SETTING_REF.sub(lookup, value)
