"""``make bench`` / ``python -m bench [name ...]``: run benchmarks and print their figures."""

from __future__ import annotations

import importlib
import sys

from bench.common import machine

BENCHMARKS = ["startup", "http", "sync_cycle", "webhooks", "google_matching", "microsoft_matching"]


def main(argv: list[str]) -> None:
    chosen = argv or BENCHMARKS
    print(f"machine: {machine()}")
    for name in chosen:
        print(f"\n== {name} ==")
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
