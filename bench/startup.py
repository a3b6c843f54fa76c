"""Import cost of the function app and of each provider SDK, each in a fresh process."""

from __future__ import annotations

import statistics
import subprocess
import sys

from shared.settings import APP_ROOT

MODULES = [
    "function_app",
    "msal",
    "googleapiclient.discovery",
    "google_auth_oauthlib.flow",
    "azure.data.tables",
    "azure.storage.queue",
    "azure.keyvault.secrets",
]


def import_seconds(module: str, runs: int = 5) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code],
                cwd=APP_ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(times)


def main() -> None:
    print("import time in a fresh process (median of 5):")
    for module in MODULES:
        print(f"  {module:32s} {import_seconds(module) * 1000:7.1f} ms")
