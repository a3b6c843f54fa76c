"""The Graph webhook path under a burst of change notifications, through the local host.

``python -m bench webhooks`` (or ``python -m bench.webhooks --notifications 1000 --calendars
200 --batches 1,10,50,100 --senders 8 --duplicates-percent 10 --rate 200``), for each batch size:

1. seed ``calendars`` connected Outlook calendars and sync each once, so each has a real Graph
   subscription (created by the worker, validated by the simulator against the local host) and
   a client state in the secret store; the sync queue is then empty;
2. build ``notifications`` change notifications in Graph's shape (``{"value": [...]}``, ``batch``
   items per POST, as Graph groups them), for calendars picked at random, with
   ``duplicates-percent`` of the POSTs sent twice (Graph documents duplicate deliveries);
3. ``senders`` threads POST them to ``/api/webhooks/microsoft`` over HTTP, paced to ``rate``
   notifications per second: acknowledgement time per POST (p50/p99), notifications per
   second, and how many queue messages (work items) were enqueued.

The last line is JSON with the figures per batch size.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.common import peak_rss_mib, percentile, summary_ms
from bench.sync_cycle import drain
from bench.sync_stack import running_stack, seed_org
from shared.sync.context import SYNC_QUEUE
from shared.sync.cycle import run_cycle
from simulator.microsoft.graph.state import graph_state


def _notification(sub: Any) -> dict[str, Any]:
    """One ``value`` item as Graph sends it for an Outlook event (no resource data)."""
    event_id = "AAMkA" + uuid.uuid4().hex
    resource = f"Users/{sub.mailbox_id}/Events/{event_id}"
    return {
        "id": uuid.uuid4().hex[:13],
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": sub.expiration.isoformat(),
        "changeType": random.choice(["created", "updated", "deleted"]),
        "resource": resource,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": resource,
            "id": event_id,
        },
        "clientState": sub.client_state,
        "tenantId": sub.tenant_id,
    }


def _bodies(
    subs: list[Any], notifications: int, batch: int, duplicates: float, rng: random.Random
) -> tuple[list[bytes], set[str]]:
    bodies: list[bytes] = []
    notified: set[str] = set()
    for first in range(0, notifications, batch):
        picked = [rng.choice(subs) for _ in range(min(batch, notifications - first))]
        notified |= {s.id for s in picked}
        body = json.dumps({"value": [_notification(s) for s in picked]}).encode()
        bodies.append(body)
        if rng.random() * 100 < duplicates:
            bodies.append(body)
    return bodies, notified


def _burst(
    base_url: str, bodies: list[bytes], senders: int, rate: float
) -> tuple[float, list[float], list[str]]:
    """POST ``bodies`` from ``senders`` threads, paced to ``rate`` notifications per second
    overall; (wall seconds, acknowledgement times, failures)."""
    timings: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    sizes = [len(json.loads(b)["value"]) for b in bodies]
    # Each POST is due when the notifications before it have had their share of the rate.
    due, offset = [], 0.0
    for size in sizes:
        due.append(offset)
        offset += size / rate
    started = time.perf_counter()

    def send(indexes: list[int]) -> None:
        with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as http:
            for i in indexes:
                wait = started + due[i] - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                began = time.perf_counter()
                response = http.post(
                    "/api/webhooks/microsoft",
                    content=bodies[i],
                    headers={"Content-Type": "application/json"},
                )
                elapsed = time.perf_counter() - began
                with lock:
                    timings.append(elapsed)
                    if response.status_code != 202:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    shares = [list(range(len(bodies)))[i::senders] for i in range(senders)]
    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, timings, failures


def run(
    notifications: int,
    calendars: int,
    batches: list[int],
    senders: int,
    duplicates: float,
    rate: float,
) -> dict[str, Any]:
    print(
        f"notifications={notifications} per batch size, calendars={calendars} "
        f"batches={batches} senders={senders} duplicated POSTs={duplicates:g}% rate={rate:g}/s"
    )
    figures: dict[str, Any] = {"bench": "webhooks", "rate_per_s": rate, "batches": {}}
    with running_stack() as stack:
        seed_org(stack, calendars)
        run_cycle(stack.sctx, datetime.now(UTC))
        drain(stack, 8)
        with stack.simulator.world.lock:
            subs = list(graph_state(stack.simulator.world).subscriptions.values())
        rng = random.Random(5)
        for batch in batches:
            drain(stack, 8)  # every calendar synced: the next burst's work items count alone
            before = stack.sctx.queues.approximate_count(SYNC_QUEUE)
            bodies, notified = _bodies(subs, notifications, batch, duplicates, rng)
            items = sum(len(json.loads(b)["value"]) for b in bodies)
            wall, timings, failures = _burst(stack.host.base_url, bodies, senders, rate)
            enqueued = stack.sctx.queues.approximate_count(SYNC_QUEUE) - before
            print(
                f"  batch {batch}: {len(bodies)} POSTs carrying {items} notifications in "
                f"{wall:.2f} s = {items / wall:.0f} notifications/s, {len(failures)} not 202; "
                f"ack {summary_ms(timings)}; {enqueued} queue messages for "
                f"{len(notified)} calendars notified"
            )
            if failures:
                print(f"  first failure: {failures[0]}")
            figures["batches"][str(batch)] = {
                "posts": len(bodies),
                "notifications": items,
                "ack_p50_ms": round(percentile(timings, 50) * 1000, 1),
                "ack_p99_ms": round(percentile(timings, 99) * 1000, 1),
                "notifications_per_s": round(items / wall),
                "work_items_enqueued": enqueued,
                "calendars_notified": len(notified),
                "not_202": len(failures),
            }
        figures["peak_rss_mib"] = round(peak_rss_mib())
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--calendars", type=int, default=200)
    parser.add_argument("--batches", default="1,10,50,100")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--duplicates-percent", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args([] if argv is None else argv)
    batches = [int(b) for b in args.batches.split(",")]
    figures = run(
        args.notifications,
        args.calendars,
        batches,
        args.senders,
        args.duplicates_percent,
        args.rate,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
