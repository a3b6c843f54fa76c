"""The Graph webhook path under a burst of change notifications, through the local host.

``python -m bench webhooks`` (or ``python -m bench.webhooks --notifications 2000 --calendars
200 --batch 5 --senders 8 --duplicates-percent 10``):

1. seed ``calendars`` connected Outlook calendars and sync each once, so each has a real Graph
   subscription (created by the worker, validated by the simulator against the local host) and
   a client state in the secret store; the sync queue is then empty;
2. build ``notifications`` change notifications in Graph's shape (``{"value": [...]}``, ``batch``
   items per POST, as Graph groups them), for calendars picked at random, with
   ``duplicates-percent`` of the POSTs sent twice (Graph documents duplicate deliveries);
3. ``senders`` threads POST them to ``/api/webhooks/microsoft`` over HTTP: acknowledgement time
   per POST (p50/p99), notifications per second, and how many sync messages were enqueued
   (at most one per calendar: the pending-sync marker de-duplicates).
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

from bench.common import peak_rss_mib, summary_ms
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


def run(notifications: int, calendars: int, batch: int, senders: int, duplicates: float) -> None:
    print(
        f"notifications={notifications} calendars={calendars} batch={batch} "
        f"senders={senders} duplicated POSTs={duplicates:g}%"
    )
    with running_stack() as stack:
        seed_org(stack, calendars)
        run_cycle(stack.sctx, datetime.now(UTC))
        drain(stack, 8)
        with stack.simulator.world.lock:
            subs = list(graph_state(stack.simulator.world).subscriptions.values())
        rng = random.Random(5)
        bodies: list[bytes] = []
        notified: set[str] = set()
        for first in range(0, notifications, batch):
            picked = [rng.choice(subs) for _ in range(min(batch, notifications - first))]
            notified |= {s.id for s in picked}
            body = json.dumps({"value": [_notification(s) for s in picked]}).encode()
            bodies.append(body)
            if rng.random() * 100 < duplicates:
                bodies.append(body)
        sent_items = sum(len(json.loads(b)["value"]) for b in bodies)

        timings: list[float] = []
        lock = threading.Lock()
        failures: list[str] = []

        def send(share: list[bytes]) -> None:
            with httpx.Client(base_url=stack.host.base_url, trust_env=False, timeout=30) as http:
                for body in share:
                    started = time.perf_counter()
                    response = http.post(
                        "/api/webhooks/microsoft",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
                    elapsed = time.perf_counter() - started
                    with lock:
                        timings.append(elapsed)
                        if response.status_code != 202:
                            failures.append(f"{response.status_code} {response.text[:200]}")

        shares = [bodies[i::senders] for i in range(senders)]
        started = time.perf_counter()
        threads = [threading.Thread(target=send, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        enqueued = stack.sctx.queues.approximate_count(SYNC_QUEUE)
        print(
            f"  {len(bodies)} POSTs carrying {sent_items} notifications in {wall:.2f} s = "
            f"{sent_items / wall:.0f} notifications/s, {len(failures)} not 202"
        )
        print(f"  acknowledgement time per POST: {summary_ms(timings)}")
        print(
            f"  sync messages enqueued: {enqueued} for {len(notified)} calendars notified "
            f"(of {len(subs)} subscriptions)"
        )
        print(f"  peak RSS (bench + simulator + host): {peak_rss_mib():.0f} MiB")
        if failures:
            print(f"  first failure: {failures[0]}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--calendars", type=int, default=200)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--duplicates-percent", type=float, default=10.0)
    args = parser.parse_args([] if argv is None else argv)
    run(args.notifications, args.calendars, args.batch, args.senders, args.duplicates_percent)


if __name__ == "__main__":
    main(sys.argv[1:])
