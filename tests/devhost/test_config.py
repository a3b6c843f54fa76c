"""host.json and local.settings.json as the local host reads them, and its import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.config import HostSettings, load_local_settings, parse_timespan, resolve_app_settings

ROOT = Path(__file__).resolve().parents[2]


def test_host_json_queue_settings_and_defaults(tmp_path: Path) -> None:
    assert HostSettings.load(tmp_path) == HostSettings()  # no host.json: host defaults
    (tmp_path / "host.json").write_text(
        json.dumps(
            {
                "version": "2.0",
                "extensions": {
                    "http": {"routePrefix": "/v2/"},
                    "queues": {
                        "batchSize": 4,
                        "visibilityTimeout": "00:01:30",
                        "maxDequeueCount": 2,
                        "maxPollingInterval": "00:00:02.500",
                        "messageEncoding": "none",
                    },
                },
            }
        )
    )

    settings = HostSettings.load(tmp_path)

    assert settings.route_prefix == "v2"
    assert settings.queues.batch_size == 4
    assert settings.queues.new_batch_threshold == 2
    assert settings.queues.visibility_timeout == 90
    assert settings.queues.max_dequeue_count == 2
    assert settings.queues.max_polling_interval == 2.5
    assert settings.queues.message_encoding == "none"


def test_bad_queue_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="batchSize"):
        HostSettings.from_json({"extensions": {"queues": {"batchSize": 64}}})
    with pytest.raises(ValueError, match="messageEncoding"):
        HostSettings.from_json({"extensions": {"queues": {"messageEncoding": "utf8"}}})
    with pytest.raises(ValueError, match="TimeSpan"):
        parse_timespan("90 seconds")
    assert parse_timespan("1.00:00:01") == 86401
    assert parse_timespan(2000) == 2.0  # Functions 1.x milliseconds


def test_local_settings_fill_only_unset_variables(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {"AzureWebJobsStorage": "from-file", "FEATURE": "on"},
                "Host": {"LocalHttpPort": 7072},
            }
        )
    )
    environ = {"AzureWebJobsStorage": "from-shell"}

    local = load_local_settings(path, environ)

    assert environ == {"AzureWebJobsStorage": "from-shell", "FEATURE": "on"}
    assert local.applied == ["FEATURE"]
    assert local.http_port == 7072


def test_app_setting_expressions_resolve_or_fail() -> None:
    assert resolve_app_settings("%Prefix%-sync", {"Prefix": "dev"}) == "dev-sync"
    with pytest.raises(KeyError, match="Missing"):
        resolve_app_settings("%Missing%", {})


def test_importing_the_host_opens_no_connection_and_stays_light() -> None:
    # An audit hook refuses every socket connect and DNS lookup during the import.
    probe = (
        "import sys\n"
        "def hook(event, args):\n"
        "    if event in ('socket.connect', 'socket.getaddrinfo'):\n"
        "        raise RuntimeError(f'network at import: {event} {args}')\n"
        "sys.addaudithook(hook)\n"
        "import devhost.host, devhost.__main__\n"
        "print(sorted(m for m in ('uvicorn', 'azure.storage.queue') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    # The server and storage SDK load only when the host starts (import time is measured by
    # the benchmarks, not asserted here).
    assert result.stdout.strip() == "[]"
