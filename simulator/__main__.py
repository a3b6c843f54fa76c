"""Run the provider simulator on its own: ``python -m simulator [--demo]``.

    python -m simulator --host 127.0.0.1 --port 8443 --cert-dir .local/simulator --seed 1 --demo

Serves HTTPS until Ctrl-C and prints the base URL, the CA to trust (``ca.pem``) and the trust
bundle (system CAs plus ours, for ``REQUESTS_CA_BUNDLE``-style settings); with ``--demo`` it also
seeds the demo organisation (:mod:`simulator.demo`) and prints what the app's settings need.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from simulator import demo
from simulator.server import SimulatorServer
from simulator.world import World


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--cert-dir", type=Path, default=Path(".local/simulator"))
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault generator")
    parser.add_argument("--demo", action="store_true", help="seed the demo organisation")
    args = parser.parse_args(argv)

    server = SimulatorServer.start(
        args.cert_dir, world=World(seed=args.seed), host=args.host, port=args.port
    )
    print(f"simulator: {server.base_url}", flush=True)
    print(f"CA certificate: {server.certs.ca.resolve()}", flush=True)
    print(f"trust bundle: {server.certs.trust_bundle.resolve()}", flush=True)
    if args.demo:
        seeded = demo.seed(server.world)
        if seeded["google"] is None:
            print("demo: simulator.google.demo not available, Microsoft half only", flush=True)
        print("demo: " + json.dumps(seeded, indent=2), flush=True)
    print("Ctrl-C stops.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
