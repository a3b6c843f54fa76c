"""Cold import of ``function_app`` against a bare azure-functions app, each in a fresh process.

The Functions worker imports ``function_app.py`` before the first invocation of a new instance,
so this is the part of a cold start the app controls. The bare app is the floor: it imports
``azure.functions`` and creates a ``FunctionApp`` with one HTTP function. Median of 5 fresh
processes each; the last line is JSON (``import_ms``, ``bare_ms``, ``ratio``) plus the import
time of each provider and storage SDK for reference (loaded on first use, not at import).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from shared.settings import APP_ROOT

BARE_APP = (
    "import azure.functions as func\n"
    "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
    "@app.route(route='ping')\n"
    "def ping(req: func.HttpRequest) -> func.HttpResponse:\n"
    "    return func.HttpResponse('ok')\n"
    "app.get_functions()\n"
)
FUNCTION_APP = "import function_app\nfunction_app.app.get_functions()\n"

SDKS = [
    "msal",
    "googleapiclient.discovery",
    "google_auth_oauthlib.flow",
    "azure.data.tables",
    "azure.storage.queue",
    "azure.keyvault.secrets",
    "httpx",
]


def import_seconds(code: str, runs: int = 5) -> float:
    """Median wall time of ``code`` in ``runs`` fresh interpreters (the interpreter's own start
    excluded: the clock starts inside the process)."""
    timed = f"import time\nt = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)\n"
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", timed],
                cwd=APP_ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
        )
        for _ in range(runs)
    ]
    return statistics.median(times)


def main() -> None:
    app_ms = import_seconds(FUNCTION_APP) * 1000
    bare_ms = import_seconds(BARE_APP) * 1000
    print("import time in a fresh process (median of 5):")
    print(f"  {'function_app':32s} {app_ms:7.1f} ms")
    print(f"  {'bare azure-functions app':32s} {bare_ms:7.1f} ms")
    sdks = {}
    for module in SDKS:
        sdks[module] = round(import_seconds(f"import {module}") * 1000, 1)
        print(f"  {module:32s} {sdks[module]:7.1f} ms")
    figures = {
        "bench": "startup",
        "import_ms": round(app_ms, 1),
        "bare_ms": round(bare_ms, 1),
        "ratio": round(app_ms / bare_ms, 2),
        "sdk_import_ms": sdks,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
