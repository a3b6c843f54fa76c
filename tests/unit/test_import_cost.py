"""Importing the function app does no network work and loads no provider or storage SDK, no
validation, token or HTTP client library and none of the app's own routes or engine.

Flex Consumption gives an app 30 s to start and the Functions worker imports function_app.py
before the first invocation: everything heavy is imported on first use instead
(``shared/function_index.py``). ``python -m bench.startup`` measures the import time.
"""

from __future__ import annotations

import subprocess
import sys

from shared.settings import APP_ROOT

HEAVY = (
    "msal",
    "googleapiclient",
    "google_auth_oauthlib",
    "google.oauth2",
    "httplib2",
    "azure.data.tables",
    "azure.storage.queue",
    "azure.keyvault.secrets",
    "azure.identity",
    "azure.monitor",
    "opentelemetry",
    "simulator",
    "devhost",
    "httpx",
    "pydantic",
    "jwt",
    "cryptography",
    "requests",
    "shared.settings",
    "shared.services",
    "shared.http.api",
    "shared.http.routes.meta",
    "shared.http.routes.webhooks",
    "shared.triggers.sync",
    "shared.sync.worker",
)


def test_importing_the_function_app_is_offline_and_light() -> None:
    probe = (
        "import sys\n"
        "def hook(event, args):\n"
        "    if event in ('socket.connect', 'socket.getaddrinfo', 'open') and (\n"
        "        event != 'open' or str(args[0]).endswith('local.settings.json')):\n"
        "        raise RuntimeError(f'I/O at import: {event} {args}')\n"
        "sys.addaudithook(hook)\n"
        "import function_app\n"
        "function_app.app.get_functions()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=APP_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
