"""``python -m devhost``: serve the function app on the local host until Ctrl-C.

Storage (Azurite) must already be running when the app has queue triggers; ``make run``
(``devhost/run.py``) starts it together with the provider simulator and this host.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from devhost.config import ROOT, load_local_settings
from devhost.host import DevHost


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the app")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="folder holding host.json")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--port", type=int, default=None, help="HTTP port (default: local.settings.json, else 7071)"
    )
    parser.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="local.settings.json whose Values fill unset environment variables "
        "(default: <app-dir>/local.settings.json when it exists)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings_path = args.settings
    if settings_path is None and (args.app_dir / "local.settings.json").exists():
        settings_path = args.app_dir / "local.settings.json"
    port = args.port
    if settings_path is not None:
        local = load_local_settings(settings_path)
        logging.getLogger("devhost").info(
            "Applied %d setting(s) from %s", len(local.applied), settings_path
        )
        port = port or local.http_port
    port = port or 7071
    host = DevHost(args.app, app_dir=args.app_dir, access_log=args.access_log)
    for function in host.http_functions:
        methods = ",".join(sorted(function.methods)) if function.methods else "ALL"
        url = f"http://{args.host}:{port}/{function.template.template}"
        print(f"  {function.entry.name}: [{methods}] {url}", flush=True)
    for name, entry in host.functions.items():
        if entry.trigger_type != "httpTrigger":
            print(f"  {name}: {entry.trigger_type} (POST /admin/functions/{name})", flush=True)
    host.serve_forever(args.host, port)


if __name__ == "__main__":
    main()
