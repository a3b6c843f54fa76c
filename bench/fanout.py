"""The 5-minute cycle's fan-out alone, at any size: ``python -m bench.fanout --calendars 10000``.

Only Table and Queue storage take part in the fan-out (it never calls a provider), so the
calendars are seeded as the rows the cycle reads: one enabled workspace integration per
organisation of ``people-per-org`` and one connected connection per person (with a placeholder
token blob; nothing here signs in). Then :func:`shared.sync.cycle.run_cycle` runs three times
against Azurite: the first ever (it also writes each calendar's first health row), then, after
the workers are played as done (their batch rows deleted, the queue cleared), the steady-state
fan-out (timed: the figure of interest), then once more at once, which finds every calendar
pending and enqueues nothing (the bound on a backlog). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from azure.storage.queue import QueueClient

from bench import counting
from bench.common import peak_rss_mib
from devhost.azurite import start_azurite
from shared.consent.connections import Connection, ConnectionStatus
from shared.http.flows import sync_context
from shared.integrations.model import Integration, Kind, Provider, Status
from shared.secrets.local_store import LocalSecretStore
from shared.services import Services
from shared.settings import load_settings
from shared.sync import batches
from shared.sync.context import SYNC_QUEUE
from shared.sync.cycle import run_cycle


def run(calendars: int, people_per_org: int) -> dict[str, object]:
    with start_azurite() as azurite, tempfile.TemporaryDirectory() as work:
        counting.install(azurite.table_port, azurite.queue_port)
        settings = load_settings(
            {
                "LOCAL_SETTINGS_FILE": str(Path(work) / "none.json"),
                "STORAGE_CONNECTION_STRING": azurite.connection_string,
                "TABLE_PREFIX": "fan" + secrets.token_hex(3),
                "SECRET_STORE": "local",
                "LOCAL_SECRETS_DIR": str(Path(work) / "secrets"),
                "LOCAL_SECRETS_KEY": LocalSecretStore.generate_key(),
                "AUTH_SHARED_SECRET": secrets.token_urlsafe(32),
                "LOG_LEVEL": "WARNING",
            }
        )
        services = Services(settings)
        sctx = sync_context(services)
        ctx = sctx.consent
        now = datetime.now(UTC)
        started = time.perf_counter()
        jobs = []
        for first in range(0, calendars, people_per_org):
            org = "org-" + secrets.token_hex(4)
            integration = ctx.integrations.insert(
                Integration(
                    org=org, id=uuid.uuid4().hex[:12], kind=Kind.WORKSPACE,
                    provider=Provider.MICROSOFT, name="Outlook", status=Status.ENABLED,
                    created_at=now, created_by="bench", updated_at=now, tenant="t",
                    test_passed_at=now, enabled_at=now, enabled_by="bench",
                )
            )  # fmt: skip
            for i in range(min(people_per_org, calendars - first)):
                jobs.append(
                    Connection(
                        org=org, integration_id=integration.id, subject=f"person-{first + i}",
                        status=ConnectionStatus.CONNECTED, account=f"p{first + i}@x.example",
                        user_id=f"u{first + i}", tenant="t", scopes=("Calendars.ReadWrite",),
                        connected_at=now, updated_at=now,
                    )
                )  # fmt: skip
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda c: ctx.connections.save(c, "placeholder-blob"), jobs))
        print(f"  seeded {calendars} connections in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        first_ever = run_cycle(sctx, datetime.now(UTC))
        first_ever_s = time.perf_counter() - started
        # The workers did their work: every batch row goes, the queue is emptied.
        for entity in list(ctx.tables.query(batches.SYNC_BATCHES)):
            batches.done(ctx.tables, entity.partition_key, entity.row_key)
        QueueClient.from_connection_string(azurite.connection_string, SYNC_QUEUE).clear_messages()

        before = counting.snapshot()
        started = time.perf_counter()
        steady = run_cycle(sctx, datetime.now(UTC))
        fanout_s = time.perf_counter() - started
        requests = counting.delta(before, counting.snapshot())
        started = time.perf_counter()
        again = run_cycle(sctx, datetime.now(UTC))
        again_s = time.perf_counter() - started
        queued = sctx.queues.approximate_count(SYNC_QUEUE)
        print(
            f"  first ever fan-out: {first_ever.calendars} calendars in {first_ever_s:.2f} s; "
            f"steady state: {steady.calendars} calendars in {steady.messages} messages in "
            f"{fanout_s:.2f} s ({requests}); again at once: {again.calendars} enqueued, "
            f"{again.pending} pending, {again_s:.2f} s; {queued} messages on the queue"
        )
        return {
            "bench": "fanout",
            "calendars": calendars,
            "messages": steady.messages,
            "fanout_s": round(fanout_s, 3),
            "fanout_requests": requests,
            "first_ever_fanout_s": round(first_ever_s, 3),
            "again_enqueued": again.calendars,
            "again_pending": again.pending,
            "again_s": round(again_s, 3),
            "queue_messages": queued,
            "peak_rss_mib": round(peak_rss_mib()),
        }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--calendars", type=int, default=10000)
    parser.add_argument("--people-per-org", type=int, default=10000)
    args = parser.parse_args([] if argv is None else argv)
    print(json.dumps(run(args.calendars, args.people_per_org)))


if __name__ == "__main__":
    main(sys.argv[1:])
