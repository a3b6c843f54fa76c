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
4. the measured cycle: :func:`shared.sync.cycle.run_cycle` (time, messages per second), then
   ``workers`` threads drain the queue the way the queue trigger does (receive, run
   :func:`shared.sync.worker.sync_calendar`, delete): calendars per second, Graph and identity
   requests per calendar (the simulator's ``/_sim/stats``), peak memory of the process (which
   also holds the simulator and its state).
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient

from bench.common import peak_rss_mib
from bench.sync_stack import SeededOrg, Stack, running_stack, seed_org
from shared.storage.queue_rules import decode_body
from shared.sync.context import SYNC_QUEUE
from shared.sync.cycle import run_cycle
from shared.sync.worker import parse_message, sync_calendar


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
                    outcome = sync_calendar(stack.sctx, parsed)
                    client.delete_message(message)
                    with lock:
                        outcomes[outcome.status] += 1
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


def run(
    calendars: int, people_per_org: int, workers: int, latency_ms: float, changed: float
) -> None:
    """Seed, warm up, measure one cycle and print the figures."""
    print(
        f"calendars={calendars} people/org={people_per_org} workers={workers} "
        f"graph latency={latency_ms:g} ms changed={changed:g}%"
    )
    with running_stack(latency_ms) as stack:
        started = time.perf_counter()
        orgs = []
        remaining = calendars
        while remaining > 0:
            orgs.append(seed_org(stack, min(people_per_org, remaining)))
            remaining -= people_per_org
        print(f"  seeded {len(orgs)} orgs in {time.perf_counter() - started:.1f} s")

        report = run_cycle(stack.sctx, datetime.now(UTC))
        seconds, outcomes = drain(stack, workers)
        print(
            f"  first sync (subscription + initial delta): {report.calendars} calendars in "
            f"{seconds:.1f} s = {report.calendars / seconds:.1f} calendars/s {dict(outcomes)}"
        )

        stack.host.stop()  # notifications for the changes below go nowhere (see docstring)
        stack.sim.graph.settings(retry_delays=[])
        with_changes = add_changes(stack, orgs, changed)
        stack.sim.reset_stats()

        started = time.perf_counter()
        report = run_cycle(stack.sctx, datetime.now(UTC))
        fan_out = time.perf_counter() - started
        print(
            f"  fan-out (run_cycle): {report.calendars} messages in {fan_out:.2f} s = "
            f"{report.calendars / fan_out:.0f} messages/s, {report.renewals} renewals"
        )
        seconds, outcomes = drain(stack, workers)
        requests = _requests(stack.sim.stats())
        per_calendar = {k: round(v / report.calendars, 3) for k, v in requests.items()}
        print(
            f"  worker: {report.calendars} calendars ({with_changes} changed) in {seconds:.1f} s "
            f"= {report.calendars / seconds:.1f} calendars/s with {workers} threads "
            f"{dict(outcomes)}"
        )
        print(f"  provider requests: {requests} = per calendar {per_calendar}")
        print(f"  peak RSS (bench + simulator + host): {peak_rss_mib():.0f} MiB")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_cycle", description=__doc__)
    parser.add_argument("--calendars", type=int, default=1000)
    parser.add_argument("--people-per-org", type=int, default=100)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--changed-percent", type=float, default=5.0)
    args = parser.parse_args([] if argv is None else argv)
    run(args.calendars, args.people_per_org, args.workers, args.latency_ms, args.changed_percent)


if __name__ == "__main__":
    main(sys.argv[1:])
