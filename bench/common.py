"""Small helpers shared by the benchmarks: percentiles, peak memory, the machine description."""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
from collections.abc import Sequence


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; values need not be sorted."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"n={len(ms)} p50={percentile(ms, 50):.2f} ms p99={percentile(ms, 99):.2f} ms "
        f"mean={statistics.fmean(ms):.2f} ms"
    )


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def matching_arguments(
    prog: str, doc: str | None, argv: Sequence[str] | None
) -> argparse.Namespace:
    """The options both people-matching benchmarks take: people, directory size, and the
    shares of people missing from the directory or known there by an alias."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--directory", type=int, default=5000)
    parser.add_argument("--missing-percent", type=float, default=5.0)
    parser.add_argument("--alias-percent", type=float, default=10.0)
    return parser.parse_args([] if argv is None else argv)
