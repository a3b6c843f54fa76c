"""Request latency through the local functions host (health: Table, Queue and secret store)."""

from __future__ import annotations

import time

import httpx

from bench.common import summary_ms
from devhost.azurite import start_azurite
from devhost.host import DevHost
from shared.secrets.local_store import LocalSecretStore
from shared.services import Services, use_services
from shared.settings import load_settings


def main(requests: int = 300) -> None:
    import tempfile

    with start_azurite() as azurite, tempfile.TemporaryDirectory() as secrets_dir:
        settings = load_settings(
            {
                "LOCAL_SETTINGS_FILE": "/nonexistent",
                "STORAGE_CONNECTION_STRING": azurite.connection_string,
                "LOCAL_SECRETS_DIR": secrets_dir,
                "LOCAL_SECRETS_KEY": LocalSecretStore.generate_key(),
                "AUTH_SHARED_SECRET": "bench" * 8,
                "LOG_LEVEL": "WARNING",
            }
        )
        use_services(Services(settings))
        with DevHost(
            "function_app:app", settings={"AzureWebJobsStorage": azurite.connection_string}
        ) as host:
            host.start()
            with httpx.Client(base_url=host.base_url, trust_env=False) as client:
                for path in ("/api/openapi.json", "/api/health"):
                    client.get(path)  # warm up: first use builds the clients
                    timings = []
                    for _ in range(requests):
                        started = time.perf_counter()
                        client.get(path).raise_for_status()
                        timings.append(time.perf_counter() - started)
                    print(f"GET {path:20s} {summary_ms(timings)}")
        use_services(None)
