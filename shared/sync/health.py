"""What the operator's health view shows, and the records behind it.

Tables (owned here, see docs/sync-design.md):

* ``syncstatus``: PartitionKey = org, RowKey = calendar key: ``runs``, ``last_run_at``,
  ``last_success_at``, ``last_failure_at``, ``last_error`` (a stable error code, never provider
  text), ``consecutive_failures``, ``failing_reported``. Written only by the worker holding the
  calendar's lease, so plain upserts do not race.
* ``synccycles``: PartitionKey = ``cycle``, RowKey = ``last``: when the 5-minute cycle last ran
  and what it enqueued.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.consent.connections import ConnectionStatus
from shared.errors import AlreadyExists
from shared.storage.keys import encode_key
from shared.storage.queues import QueueSender
from shared.storage.tables import Entity, FieldValue, TableStore
from shared.sync import subscriptions
from shared.sync.calendars import calendars_of
from shared.sync.context import SYNC_QUEUE, SyncContext

SYNC_STATUS = "syncstatus"
SYNC_CYCLES = "synccycles"
CYCLE_INTERVAL = timedelta(minutes=5)
# A calendar whose last successful sync is older than two cycles is "behind".
BEHIND_AFTER = 2 * CYCLE_INTERVAL
POISON_QUEUE = f"{SYNC_QUEUE}-poison"
# The error of a calendar reported for going too long without a successful sync, when no run
# recorded an error of its own (its runs never finish, or never start).
SYNC_STALLED = "sync_stalled"


@dataclass(frozen=True)
class CalendarStatus:
    calendar_key: str
    runs: int
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str
    last_failure_at: datetime | None
    consecutive_failures: int
    failing_reported: bool
    # Since when every run failed (of any kind, throttling included); None after a success.
    failing_since: datetime | None = None
    # When the service first knew the calendar (the cycle or its first run wrote the row).
    first_seen_at: datetime | None = None

    def overdue(
        self, now: datetime, bound: timedelta, running_since: datetime | None = None
    ) -> bool:
        """No successful sync for ``bound``: since the last success, or since the service first
        saw the calendar when it never synced (a stuck or crashing worker records nothing), and
        not counting time before ``running_since`` (the cycles were not running)."""
        reference = self.last_success_at or self.first_seen_at
        if reference is None:
            return False
        if running_since is not None:
            reference = max(reference, running_since)
        return now - reference >= bound

    def failing_too_long(self, now: datetime, bound: timedelta) -> bool:
        """Every run failed, whatever the kind, for ``bound`` or longer."""
        return self.failing_since is not None and now - self.failing_since >= bound


def status(tables: TableStore, org: str, calendar_key: str) -> CalendarStatus | None:
    entity = tables.get(SYNC_STATUS, encode_key(org), calendar_key)
    return _status(entity) if entity is not None else None


def statuses(tables: TableStore, org: str, integration_id: str) -> list[CalendarStatus]:
    rows = tables.query(SYNC_STATUS, encode_key(org), row_key_prefix=f"{integration_id}:")
    return [_status(e) for e in rows]


def _when(entity: Entity, name: str) -> datetime | None:
    value = entity.fields.get(name)
    return value if isinstance(value, datetime) else None


def _status(entity: Entity) -> CalendarStatus:
    runs = entity.fields.get("runs")
    failures = entity.fields.get("consecutive_failures")
    return CalendarStatus(
        calendar_key=entity.row_key,
        runs=runs if isinstance(runs, int) else 0,
        last_run_at=_when(entity, "last_run_at"),
        last_success_at=_when(entity, "last_success_at"),
        last_error=entity.get_str("last_error"),
        last_failure_at=_when(entity, "last_failure_at"),
        consecutive_failures=failures if isinstance(failures, int) else 0,
        failing_reported=entity.fields.get("failing_reported") is True,
        failing_since=_when(entity, "failing_since"),
        first_seen_at=_when(entity, "first_seen_at"),
    )


def record_run(
    tables: TableStore,
    org: str,
    calendar_key: str,
    now: datetime,
    error: str | None,
    *,
    transient: bool = False,
) -> CalendarStatus:
    """Record one worker run (``error`` = a stable code, ``None`` for success).

    A ``transient`` error (throttling: the provider said when to come back) is recorded but
    does not count towards the consecutive failures that make a calendar ``sync_failing``; it
    does keep ``failing_since``, so a provider that throttles (or is down) for longer than
    ``SYNC_FAILING_AFTER_MINUTES`` is reported all the same.
    """
    before = status(tables, org, calendar_key)
    fields: dict[str, FieldValue] = {
        "runs": (before.runs if before else 0) + 1,
        "last_run_at": now,
        "last_success_at": before.last_success_at if before else None,
        "consecutive_failures": 0,
        "failing_reported": False,
        "last_error": "",
        "first_seen_at": (before.first_seen_at if before else None) or now,
    }
    if error is None:
        fields["last_success_at"] = now
    else:
        fields["last_error"] = error
        fields["last_failure_at"] = now
        previous = before.consecutive_failures if before else 0
        fields["consecutive_failures"] = previous if transient else previous + 1
        fields["failing_reported"] = before.failing_reported if before else False
        fields["failing_since"] = (before.failing_since if before else None) or now
    stored = tables.upsert(SYNC_STATUS, Entity(encode_key(org), calendar_key, fields))
    return _status(stored)  # what was written: no second read


def note_seen(tables: TableStore, org: str, calendar_key: str, now: datetime) -> None:
    """Start the clock of a calendar that has no status row yet (the cycle calls this), so a
    calendar whose runs never finish is reported as overdue too."""
    try:
        tables.insert(SYNC_STATUS, Entity(encode_key(org), calendar_key, {"first_seen_at": now}))
    except AlreadyExists:
        return  # a run recorded itself meanwhile: its row already holds first_seen_at


def org_statuses(tables: TableStore, org: str) -> dict[str, CalendarStatus]:
    """Every calendar status of ``org``, by calendar key (one query)."""
    return {e.row_key: _status(e) for e in tables.query(SYNC_STATUS, encode_key(org))}


def mark_failing_reported(tables: TableStore, org: str, calendar_key: str) -> None:
    entity = tables.get(SYNC_STATUS, encode_key(org), calendar_key)
    if entity is not None:
        entity.fields["failing_reported"] = True
        tables.upsert(SYNC_STATUS, entity)


def record_cycle(
    tables: TableStore,
    at: datetime,
    calendars: int,
    renewals: int,
    running_since: datetime | None = None,
) -> None:
    fields: dict[str, FieldValue] = {
        "at": at,
        "calendars": calendars,
        "renewals": renewals,
        "running_since": running_since or at,
    }
    tables.upsert(SYNC_CYCLES, Entity("cycle", "last", fields))


def cycles_running_since(tables: TableStore, now: datetime) -> datetime:
    """Since when the 5-minute cycle has run without a gap (``now`` after a gap of more than
    two intervals: the app was stopped, or nothing ran). A calendar cannot be overdue for a
    time in which no cycle could have synced it."""
    entity = tables.get(SYNC_CYCLES, "cycle", "last")
    at = _when(entity, "at") if entity is not None else None
    if entity is None or at is None or now - at > 2 * CYCLE_INTERVAL:
        return now
    return _when(entity, "running_since") or at


def last_cycle(tables: TableStore) -> tuple[datetime, int, int] | None:
    entity = tables.get(SYNC_CYCLES, "cycle", "last")
    if entity is None:
        return None
    at, calendars, renewals = (entity.fields.get(n) for n in ("at", "calendars", "renewals"))
    if not isinstance(at, datetime):
        return None
    return at, int(calendars or 0), int(renewals or 0)  # type: ignore[arg-type]


# --- the health view ---------------------------------------------------------------------------


@dataclass
class IntegrationHealth:
    """One integration's sync health (the ``GET .../health`` body)."""

    integration_id: str
    calendars: int
    last_cycle_at: datetime | None
    last_cycle_calendars: int
    failures_by_kind: dict[str, int] = field(default_factory=dict)
    subscriptions_healthy: int = 0
    subscriptions_expiring: int = 0
    subscriptions_missing: int = 0
    calendars_behind: list[str] = field(default_factory=list)
    poison_messages: int = 0
    connections_needing_reconnect: int = 0
    connection_attempts_failed: int = 0
    calendars_failing: int = 0


def integration_health(
    sctx: SyncContext, org: str, integration_id: str, now: datetime
) -> IntegrationHealth:
    """Health of one integration's sync, as of ``now``. ``NotFound`` for an unknown one."""
    ctx = sctx.consent
    integration = ctx.integrations.get(org, integration_id)
    refs = calendars_of(ctx, integration)
    cycle = last_cycle(ctx.tables)
    report = IntegrationHealth(
        integration_id=integration_id,
        calendars=len(refs),
        last_cycle_at=cycle[0] if cycle else None,
        last_cycle_calendars=cycle[1] if cycle else 0,
        poison_messages=poison_depth(sctx.queues),
    )
    by_key = {s.calendar_key: s for s in statuses(ctx.tables, org, integration_id)}
    failures: Counter[str] = Counter()
    bound = timedelta(minutes=ctx.settings.sync_failing_after_minutes)
    running_since = cycles_running_since(ctx.tables, now)
    for ref in refs:
        st = by_key.get(ref.key)
        # What the workers see: failed runs of any kind (throttling included), and calendars
        # that have not synced for the bound whatever the reason (a stuck worker records none).
        if st is not None and (st.consecutive_failures > 0 or st.failing_since is not None):
            failures[st.last_error or "unknown"] += 1
        elif st is not None and st.overdue(now, bound, running_since):
            failures[SYNC_STALLED] += 1
        if st is None or st.last_success_at is None or now - st.last_success_at > BEHIND_AFTER:
            report.calendars_behind.append(ref.person)
        sub = subscriptions.current(ctx.tables, ref.key)
        if sub is None or sub.expires_at <= now:
            report.subscriptions_missing += 1
        elif subscriptions.needs_renewal(sub, now, ctx.settings):
            report.subscriptions_expiring += 1
        else:
            report.subscriptions_healthy += 1
    report.failures_by_kind = dict(failures)
    report.calendars_failing = sum(failures.values())
    connections = ctx.connections.for_integration(org, integration_id)
    report.connections_needing_reconnect = sum(
        1 for c in connections if c.status is ConnectionStatus.NEEDS_RECONNECT
    )
    working = {c.subject for c in connections if c.status is ConnectionStatus.CONNECTED}
    attempts = ctx.failed_attempts.for_integration(org, integration_id)
    report.connection_attempts_failed = sum(1 for s in attempts if s not in working)
    return report


def poison_depth(queues: QueueSender) -> int:
    """Messages the host gave up on (``maxDequeueCount`` failures) for the sync queue."""
    return queues.approximate_count(POISON_QUEUE)
