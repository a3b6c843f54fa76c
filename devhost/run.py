"""``make run``: the whole service on one laptop, no cloud account needed.

Starts, in this process:

1. Azurite (Table, Queue, Blob) on its default ports 10000-10002, keeping data in
   ``.local/azurite-data`` between runs;
2. the provider simulator on https://127.0.0.1:8443 with the demo organisation (a Microsoft 365
   tenant ``contoso.example`` and a Google Workspace domain ``fabrikam.example``), keeping its
   world (tokens, subscriptions, events) in ``.local/simulator/world.pickle`` between runs;
3. the function app on the local functions host at http://localhost:7071/api.

On first start it writes ``local.settings.json`` from ``local.settings.sample.json`` and generates
the two local secrets (the secret store's key and the token-signing secret). Ctrl-C stops
everything it started.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import secrets
import socket
import sys
from pathlib import Path

from devhost.azurite import start_azurite, stop_leftover
from devhost.config import ROOT, load_local_settings
from devhost.host import DevHost
from shared.observability.logs import quiet_azure_sdk

SAMPLE = ROOT / "local.settings.sample.json"
GENERATED = ("LOCAL_SECRETS_KEY", "AUTH_SHARED_SECRET")
APP_PORT, SIMULATOR_PORT, AZURITE_PORTS = 7071, 8443, (10000, 10001, 10002)


def ensure_local_settings(path: Path) -> bool:
    """Create ``path`` from the sample with fresh local secrets; True if created."""
    if path.exists():
        return False
    settings = json.loads(SAMPLE.read_text())
    settings.pop("Documentation", None)
    for name in GENERATED:
        if not settings["Values"].get(name):
            settings["Values"][name] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    path.write_text(json.dumps(settings, indent=2) + "\n")
    path.chmod(0o600)
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='make run ARGS="..."  (or python -m devhost.run)',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--app-port",
        type=int,
        default=APP_PORT,
        metavar="PORT",
        help="port of the function app (default %(default)s); PUBLIC_BASE_URL and the demo "
        "app registrations' redirect URIs follow it",
    )
    parser.add_argument(
        "--simulator-port",
        type=int,
        default=SIMULATOR_PORT,
        metavar="PORT",
        help="port of the provider simulator, https (default %(default)s); the provider URL "
        "settings follow it",
    )
    parser.add_argument(
        "--azurite-ports",
        type=int,
        nargs=3,
        default=list(AZURITE_PORTS),
        metavar=("BLOB", "QUEUE", "TABLE"),
        help="Azurite's blob, queue and table ports (default %(default)s)",
    )
    parser.add_argument(
        "--settings",
        type=Path,
        default=ROOT / "local.settings.json",
        metavar="FILE",
        help="local settings file, created from local.settings.sample.json with fresh local "
        "secrets when missing (default: local.settings.json at the app root)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=ROOT / ".local",
        metavar="DIR",
        help="where Azurite's data, the simulator's certificates and world, and the local "
        "secret store are kept between runs (default: .local); delete it to start over",
    )
    parser.epilog = (
        "Azure SDK request/response logging is off; set LOG_LEVEL=DEBUG in the settings file "
        "to see it."
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    quiet_azure_sdk(os.environ.get("LOG_LEVEL", "INFO"))
    data_dir = (args.state_dir / "azurite-data").resolve()
    leftover = stop_leftover(data_dir)
    if leftover is not None:
        print(f"stopped the Azurite (pid {leftover}) a previous run left behind", flush=True)
    ports = (args.app_port, args.simulator_port, *args.azurite_ports)
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        print(
            f"make run needs ports {busy} but they are in use; stop what holds them.",
            file=sys.stderr,
        )
        return 1
    if ensure_local_settings(args.settings):
        print(f"created {args.settings} with freshly generated local secrets", flush=True)

    from simulator import demo
    from simulator.server import SimulatorServer

    blob, queue, table = args.azurite_ports
    azurite = start_azurite(blob_port=blob, queue_port=queue, table_port=table, data_dir=data_dir)
    # The simulator keeps its world next to Azurite's data, so tokens and subscriptions the
    # app holds stay valid across restarts; deleting the state folder forgets both.
    simulator = SimulatorServer.start(
        args.state_dir / "simulator",
        port=args.simulator_port,
        state_file=args.state_dir / "simulator" / "world.pickle",
    )
    # What is actually running wins over the file (whose defaults name the default ports).
    app_url = f"http://localhost:{args.app_port}"
    seeded = demo.seed(simulator.world, app_url)
    demo.ensure_upcoming_events(simulator.base_url, simulator.certs.ca, seeded)
    os.environ.update(
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "STORAGE_CONNECTION_STRING": azurite.connection_string,
            "PUBLIC_BASE_URL": app_url,
            "PROVIDER_CA_BUNDLE": str(simulator.certs.trust_bundle),
            "MICROSOFT_AUTHORITY_HOST": simulator.base_url,
            "MICROSOFT_GRAPH_URL": f"{simulator.base_url}/graph/v1.0",
            "GOOGLE_AUTH_URI": f"{simulator.base_url}/google/o/oauth2/auth",
            "GOOGLE_TOKEN_URI": f"{simulator.base_url}/google/token",
            "GOOGLE_REVOKE_URI": f"{simulator.base_url}/google/revoke",
            "GOOGLE_CALENDAR_URL": f"{simulator.base_url}/google/calendar/v3/",
            "GOOGLE_ADMIN_URL": f"{simulator.base_url}/google/",
            "KEY_VAULT_URL": f"{simulator.base_url}/keyvault",
            "LOCAL_SECRETS_DIR": str(args.state_dir / "secrets"),
        }
    )
    load_local_settings(args.settings)
    try:
        host = DevHost("function_app:app", app_dir=ROOT)
        print(
            "\n".join(
                [
                    "",
                    f"calendar integration service: {app_url}/api",
                    f"  health:   {app_url}/api/health",
                    f"  openapi:  {app_url}/api/openapi.json",
                    f"  provider simulator: {simulator.base_url}",
                    *_demo_lines(seeded),
                    '  a token: make token ARGS="--org contoso --sub ada --role admin"',
                    "Ctrl-C stops everything.",
                    "",
                ]
            ),
            flush=True,
        )
        host.serve_forever("127.0.0.1", args.app_port)
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        azurite.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
