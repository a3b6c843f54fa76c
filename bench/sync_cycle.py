"""A full sync cycle against the simulator: fan-out, worker throughput, provider requests.

``python -m bench sync_cycle`` runs the default size; ``python -m bench.sync_cycle --calendars
10000 --people-per-org 100 --workers 8 --latency-ms 50`` chooses. Steps:

1. seed ``calendars`` connected Outlook calendars in organisations of ``people-per-org``
   (:mod:`bench.sync_stack`: directory users, admin consent, msal token caches, connections);
2. warm-up cycle: every calendar's first sync (subscription with its validation handshake,
   the initial delta listing); timed too, as "first sync";
3. ``changed`` percent of the mailboxes get an event created by the person in Outlook (the
   simulator's control API). The local host is stopped first, so Graph's notifications for them
   are not delivered: the measured cycle alone must find these changes (the 5-minute cycle is
   the safety net for lost notifications);
4. two measured cycles, each :func:`shared.sync.cycle.run_cycle` (the fan-out) and then
   ``workers`` threads draining the queue the way the queue trigger does: first with nothing
   changed (what an unchanged calendar costs), then with ``changed`` percent changed (what a
   changed calendar costs, by difference). Storage and Key Vault requests are counted at the
   HTTP level (:mod:`bench.counting`), provider requests by the simulator (``/_sim/stats``);
5. in the same stack, the naive baseline: every calendar's whole window re-read and every busy
   interval written, with the same number of threads.

The last line is JSON with the figures, so two runs compare with a diff.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient

from bench import counting
from bench.common import peak_rss_mib
from bench.sim_process import serve_in_child
from bench.sync_stack import SeededOrg, Stack, running_stack, seed_org
from shared.storage.queue_rules import decode_body
from shared.sync.busy import BusyStore
from shared.sync.calendars import all_calendars, client_for
from shared.sync.context import SYNC_QUEUE
from shared.sync.cycle import run_cycle
from shared.sync.pull import sync_window
from shared.sync.worker import parse_message
from simulator.client import SimulatorClient

try:
    from shared.sync.worker import run_message
except ImportError:  # the engine before packed messages: rerunning the older figures
    from shared.sync.worker import sync_calendar

    def run_message(sctx: Any, message: Any) -> str:  # type: ignore[misc]
        return str(sync_calendar(sctx, message).status)


def drain(stack: Stack, workers: int) -> tuple[float, collections.Counter[str]]:
    """Run the sync queue empty with ``workers`` threads; (seconds, outcomes by status)."""
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        client = QueueClient.from_connection_string(
            stack.azurite.connection_string,
            SYNC_QUEUE,
            message_decode_policy=BinaryBase64DecodePolicy(),
        )
        try:
            while True:
                batch = list(client.receive_messages(max_messages=16, visibility_timeout=300))
                if not batch:
                    props = client.get_queue_properties()
                    if not props.approximate_message_count:
                        return
                    time.sleep(0.2)  # in flight elsewhere, or delayed (a Retry-After)
                    continue
                for message in batch:
                    parsed = parse_message(decode_body(message.content))
                    summary = run_message(stack.sctx, parsed)
                    client.delete_message(message)
                    with lock:
                        outcomes[summary] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=work, name=f"bench-worker-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started, outcomes


def _requests(stats: dict[str, Any]) -> dict[str, int]:
    return {area: int(v["total"]) for area, v in stats["areas"].items()}


def add_changes(stack: Stack, orgs: list[SeededOrg], percent: float) -> int:
    """The person creates one event in ``percent`` of the mailboxes (spread evenly)."""
    mailboxes = [user for o in orgs for user in o.user_ids]
    step = max(1, round(100 / percent)) if percent > 0 else len(mailboxes) + 1
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    changed = 0
    for index in range(0, len(mailboxes), step):
        stack.sim.graph.create_event(
            mailboxes[index],
            {
                "subject": "Dentist",
                "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                "end": {
                    "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "timeZone": "UTC",
                },
            },
        )
        changed += 1
    return changed


def _measure(stack: Stack, workers: int) -> dict[str, Any]:
    """One measured cycle: fan-out, then the workers; what it cost by backend."""
    stack.sim.reset_stats()
    before = counting.snapshot()
    started = time.perf_counter()
    report = run_cycle(stack.sctx, datetime.now(UTC))
    fan_out = time.perf_counter() - started
    fanned = counting.snapshot()
    seconds, outcomes = drain(stack, workers)
    after = counting.snapshot()
    return {
        "calendars": report.calendars,
        "fanout_s": fan_out,
        "fanout_counts": counting.delta(before, fanned),
        "worker_s": seconds,
        "worker_counts": counting.delta(fanned, after),
        "outcomes": dict(outcomes),
        "provider": _requests(stack.sim.stats()),
    }


def baseline(stack: Stack, workers: int) -> float:
    """The naive sync in the same stack: every calendar's whole window re-read every cycle and
    every busy interval written; calendars per second with ``workers`` threads."""
    ctx = stack.ctx
    refs = all_calendars(ctx)
    start, end = sync_window(stack.sctx, datetime.now(UTC))
    busy = BusyStore(ctx.tables)
    lock = threading.Lock()
    pending = list(refs)

    def work() -> None:
        while True:
            with lock:
                if not pending:
                    return
                ref = pending.pop()
            with closing(client_for(ctx, ref)) as client:
                for event in client.events_between(start, end, limit=1000):
                    busy.put(ref.key, event.id, event.start, event.end, "busy", "naive")

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(refs) / (time.perf_counter() - started)


def run(
    calendars: int,
    people_per_org: int,
    workers: int,
    latency_ms: float,
    changed: float,
    separate_simulator: bool = True,
) -> dict[str, Any]:
    """Seed, warm up, measure an unchanged and a changed cycle and the baseline; the figures."""
    print(
        f"calendars={calendars} people/org={people_per_org} workers={workers} "
        f"graph latency={latency_ms:g} ms changed={changed:g}%"
    )
    with running_stack(latency_ms) as stack:
        counting.install(stack.azurite.table_port, stack.azurite.queue_port)
        counting.count_secret_reads(stack.services.secrets)
        started = time.perf_counter()
        orgs = []
        remaining = calendars
        while remaining > 0:
            orgs.append(seed_org(stack, min(people_per_org, remaining)))
            remaining -= people_per_org
        print(f"  seeded {len(orgs)} orgs in {time.perf_counter() - started:.1f} s")
        if separate_simulator:
            # From here on the simulator runs in a process of its own (bench.sim_process).
            stop_simulator = serve_in_child(stack.simulator, stack.work / "certs")
            stack.sim.close()
            stack.sim = SimulatorClient(stack.simulator.base_url, str(stack.simulator.certs.ca))

        report = run_cycle(stack.sctx, datetime.now(UTC))
        seconds, outcomes = drain(stack, workers)
        print(
            f"  first sync (subscription + initial delta): {report.calendars} calendars in "
            f"{seconds:.1f} s = {report.calendars / seconds:.1f} calendars/s {dict(outcomes)}"
        )

        stack.host.stop()  # notifications for the changes below go nowhere (see docstring)
        stack.sim.graph.settings(retry_delays=[])

        quiet = _measure(stack, workers)
        n = quiet["calendars"]
        print(
            f"  unchanged cycle: fan-out {quiet['fanout_s']:.2f} s, "
            f"workers {quiet['worker_s']:.1f} s"
            f" = {n / quiet['worker_s']:.1f} calendars/s; per calendar: table "
            f"{ {k: round(v / n, 2) for k, v in quiet['worker_counts'].items()} } "
            f"provider { {k: round(v / n, 3) for k, v in quiet['provider'].items()} }"
        )
        with_changes = add_changes(stack, orgs, changed)
        busy = _measure(stack, workers)
        n_changed = with_changes
        n_unchanged = busy["calendars"] - n_changed
        unchanged_per = {k: v / max(1, n) for k, v in quiet["worker_counts"].items()}
        changed_per = {
            k: round((v - unchanged_per.get(k, 0) * n_unchanged) / max(1, n_changed), 2)
            for k, v in busy["worker_counts"].items()
        }
        cycle_s = busy["fanout_s"] + busy["worker_s"]
        rate = busy["calendars"] / cycle_s
        print(
            f"  measured cycle ({n_changed} changed): fan-out {busy['fanout_s']:.2f} s "
            f"{busy['fanout_counts']}, workers {busy['worker_s']:.1f} s, "
            f"{rate:.1f} calendars/s {busy['outcomes']}"
        )
        print(f"  table requests per changed calendar (by kind): {changed_per}")
        base_rate = baseline(stack, workers)
        print(f"  naive baseline: {base_rate:.1f} calendars/s")
        figures = {
            "bench": "sync_cycle",
            "calendars": busy["calendars"],
            "changed": n_changed,
            "workers": workers,
            "latency_ms": latency_ms,
            "calendars_per_s": round(rate, 2),
            "unchanged_calendars_per_s": round(n / (quiet["fanout_s"] + quiet["worker_s"]), 2),
            "table_requests_per_unchanged": round(
                counting.table_total(quiet["worker_counts"]) / n, 2
            ),
            "table_requests_per_unchanged_by_kind": {
                k: round(v, 3) for k, v in unchanged_per.items() if k.startswith("table.")
            },
            "table_requests_per_changed": round(
                sum(v for k, v in changed_per.items() if k.startswith("table.")), 2
            ),
            "table_requests_per_changed_by_kind": {
                k: v for k, v in changed_per.items() if k.startswith("table.")
            },
            "queue_requests_per_calendar": round(
                busy["worker_counts"].get("queue", 0) / busy["calendars"], 3
            ),
            "provider_requests_per_calendar": round(
                busy["provider"].get("graph", 0) / busy["calendars"], 3
            ),
            "provider_requests_per_unchanged": round(quiet["provider"].get("graph", 0) / n, 3),
            "identity_requests_per_calendar": round(
                busy["provider"].get("identity", 0) / busy["calendars"], 3
            ),
            "secret_reads_per_cycle": busy["worker_counts"].get("secret_read", 0)
            + busy["fanout_counts"].get("secret_read", 0),
            "secret_reads_per_unchanged": round(
                quiet["worker_counts"].get("secret_read", 0) / n, 3
            ),
            "fanout_s": round(busy["fanout_s"], 3),
            "fanout_table_requests": counting.table_total(busy["fanout_counts"]),
            "baseline_calendars_per_s": round(base_rate, 2),
            "speedup_vs_baseline": round(rate / base_rate, 2),
            "peak_rss_mib": round(peak_rss_mib()),
            "simulator": "own process" if separate_simulator else "in the bench process",
        }
        if separate_simulator:
            stop_simulator()
        return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_cycle", description=__doc__)
    parser.add_argument("--calendars", type=int, default=1000)
    parser.add_argument("--people-per-org", type=int, default=100)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--changed-percent", type=float, default=5.0)
    parser.add_argument(
        "--simulator-in-process",
        action="store_true",
        help="keep the simulator in the bench process (how the older figures were measured)",
    )
    args = parser.parse_args([] if argv is None else argv)
    figures = run(
        args.calendars,
        args.people_per_org,
        args.workers,
        args.latency_ms,
        args.changed_percent,
        not args.simulator_in_process,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
