"""Calendar leases: a calendar is synced by at most one worker at a time.

Table ``leases``: PartitionKey = calendar key, RowKey = ``lease``, fields ``holder`` and
``expires_at``. Taking a lease is an insert, or, when the stored lease has expired, an update
guarded by the stored ETag: of two workers racing for the same calendar exactly one write
succeeds (Table storage optimistic concurrency, "Managing Concurrency in Microsoft Azure
Storage": If-Match on Update Entity). A worker that dies keeps its lease only until
``expires_at``; the default TTL equals the Functions host's message visibility while a queue
function runs (10 minutes), so by the time the message reappears the lease is free again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.clock import Clock
from shared.errors import AlreadyExists, ConcurrencyConflict, NotFound
from shared.storage.tables import Entity, FieldValue, TableStore

LEASES = "leases"
LEASE_ROW = "lease"
DEFAULT_TTL = timedelta(minutes=10)


class LeaseLost(Exception):
    """A lease could not be renewed: another worker holds the calendar now."""


@dataclass(frozen=True)
class Lease:
    """A held lease; ``etag`` proves ownership when releasing or extending."""

    key: str
    holder: str
    expires_at: datetime
    etag: str


class Leases:
    """Acquire and release per-key leases in one table."""

    def __init__(self, tables: TableStore, clock: Clock) -> None:
        self._tables = tables
        self._clock = clock

    def acquire(self, key: str, holder: str, ttl: timedelta = DEFAULT_TTL) -> Lease | None:
        """Take the lease on ``key`` for ``holder`` until now + ``ttl``.

        Returns ``None`` when another holder has an unexpired lease or won a race for it.
        A holder that asks again for its own live lease gets it renewed.
        """
        now = self._clock.now()
        expires_at = now + ttl
        fields: dict[str, FieldValue] = {
            "holder": holder,
            "expires_at": expires_at,
            "taken_at": now,
        }
        # Insert first: a free calendar (the usual case) costs one request, not a read and a write.
        try:
            stored = self._tables.insert(LEASES, Entity(key, LEASE_ROW, dict(fields)))
        except AlreadyExists:
            pass
        else:
            return Lease(key, holder, expires_at, _etag(stored))
        current = self._tables.get(LEASES, key, LEASE_ROW)
        if current is None:
            return None  # released between our insert and our read: try again later
        held_until = current.fields.get("expires_at")
        live = isinstance(held_until, datetime) and held_until > now
        if live and current.get_str("holder") != holder:
            return None
        try:
            stored = self._tables.update(LEASES, Entity(key, LEASE_ROW, fields, etag=current.etag))
        except (ConcurrencyConflict, NotFound):
            # Someone took over (or released) between our read and our write.
            return None
        return Lease(key, holder, expires_at, _etag(stored))

    def renew(self, lease: Lease, ttl: timedelta = DEFAULT_TTL) -> Lease | None:
        """Extend a held lease to now + ``ttl``, guarded by its ETag.

        Returns the renewed lease, or ``None`` when it is no longer ours (it expired and
        another holder took it, or it was released): the caller must stop working then,
        writing nothing more under it.
        """
        # Past its expiry is fine as long as the ETag still matches: nobody took it meanwhile.
        now = self._clock.now()
        expires_at = now + ttl
        fields: dict[str, FieldValue] = {
            "holder": lease.holder,
            "expires_at": expires_at,
            "renewed_at": now,
        }
        try:
            stored = self._tables.update(
                LEASES, Entity(lease.key, LEASE_ROW, fields, etag=lease.etag)
            )
        except (ConcurrencyConflict, NotFound):
            return None
        return Lease(lease.key, lease.holder, expires_at, _etag(stored))

    def release(self, lease: Lease) -> bool:
        """Give the lease back. ``False`` when it was no longer ours (it expired and another
        worker took it over): their lease stays untouched."""
        try:
            return self._tables.delete(LEASES, lease.key, LEASE_ROW, etag=lease.etag)
        except ConcurrencyConflict:
            return False

    def holder(self, key: str) -> tuple[str, datetime] | None:
        """Who holds ``key`` and until when (expired leases included); for health and tests."""
        current = self._tables.get(LEASES, key, LEASE_ROW)
        if current is None:
            return None
        until = current.fields.get("expires_at")
        if not isinstance(until, datetime):
            return None
        return current.get_str("holder"), until


def _etag(entity: Entity) -> str:
    if entity.etag is None:
        raise RuntimeError("the table store returned an entity without an ETag")
    return entity.etag
