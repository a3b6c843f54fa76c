"""``make run``: the whole service on one laptop, no cloud account needed.

Starts, in this process:

1. Azurite (Table, Queue, Blob) on its default ports 10000-10002, keeping data in
   ``.local/azurite-data`` between runs;
2. the provider simulator on https://127.0.0.1:8443 with the demo organisation (a Microsoft 365
   tenant ``contoso.example`` and a Google Workspace domain ``fabrikam.example``);
3. the function app on the local functions host at http://localhost:7071/api.

On first start it writes ``local.settings.json`` from ``local.settings.sample.json`` and generates
the two local secrets (the secret store's key and the token-signing secret). Ctrl-C stops
everything it started.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import socket
import sys

from devhost.azurite import start_azurite
from devhost.config import ROOT, load_local_settings
from devhost.host import DevHost

SAMPLE = ROOT / "local.settings.sample.json"
LOCAL = ROOT / "local.settings.json"
GENERATED = ("LOCAL_SECRETS_KEY", "AUTH_SHARED_SECRET")
APP_PORT, SIMULATOR_PORT, AZURITE_PORTS = 7071, 8443, (10000, 10001, 10002)


def ensure_local_settings() -> bool:
    """Create local.settings.json from the sample with fresh local secrets; True if created."""
    if LOCAL.exists():
        return False
    settings = json.loads(SAMPLE.read_text())
    settings.pop("Documentation", None)
    for name in GENERATED:
        if not settings["Values"].get(name):
            settings["Values"][name] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    LOCAL.write_text(json.dumps(settings, indent=2) + "\n")
    LOCAL.chmod(0o600)
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _demo_lines(seeded: dict[str, object]) -> list[str]:
    lines = ["  demo people (sign in as any of them on the simulator's pages):"]
    microsoft = seeded.get("microsoft")
    if isinstance(microsoft, dict):
        for user in microsoft.get("users", []):
            admin = " (Entra ID admin)" if user.get("admin") else ""
            lines.append(f"    Microsoft 365  {user['email']}{admin}")
    google = seeded.get("google")
    if isinstance(google, dict):
        for email in google.get("users", []):
            lines.append(f"    Google         {email}")
    return lines


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    busy = [p for p in (APP_PORT, SIMULATOR_PORT, *AZURITE_PORTS) if not _port_free(p)]
    if busy:
        print(
            f"make run needs ports {busy} but they are in use; stop what holds them.",
            file=sys.stderr,
        )
        return 1
    if ensure_local_settings():
        print(f"created {LOCAL.name} with freshly generated local secrets")
    load_local_settings(LOCAL)

    from simulator import demo
    from simulator.server import SimulatorServer

    azurite = start_azurite(
        blob_port=AZURITE_PORTS[0],
        queue_port=AZURITE_PORTS[1],
        table_port=AZURITE_PORTS[2],
        data_dir=ROOT / ".local" / "azurite-data",
    )
    simulator = SimulatorServer.start(ROOT / ".local" / "simulator", port=SIMULATOR_PORT)
    seeded = demo.seed(simulator.world)
    os.environ.setdefault("PROVIDER_CA_BUNDLE", str(simulator.certs.trust_bundle))
    try:
        host = DevHost("function_app:app", app_dir=ROOT)
        print(
            "\n".join(
                [
                    "",
                    f"calendar integration service: http://localhost:{APP_PORT}/api",
                    f"  health:   http://localhost:{APP_PORT}/api/health",
                    f"  openapi:  http://localhost:{APP_PORT}/api/openapi.json",
                    f"  provider simulator: {simulator.base_url}",
                    *_demo_lines(seeded),
                    '  a token: make token ARGS="--org contoso --sub ada --role admin"',
                    "Ctrl-C stops everything.",
                    "",
                ]
            ),
            flush=True,
        )
        host.serve_forever("127.0.0.1", APP_PORT)
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        azurite.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
