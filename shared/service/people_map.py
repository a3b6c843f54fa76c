"""Who of the host app's people is which directory user, under one service integration.

Table ``servicepeople``: PartitionKey = ``org|integration``, RowKey = the encoded person id.
A row per host-app person whose email was looked up: the lower-cased email used, the matched
directory user's immutable id (or the reason there is none), whether sync is on for them, when
they were matched, and the last error code sync met on their calendar. No calendar content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from shared.service.model import Match, MatchReason
from shared.storage.bulk import delete_partition
from shared.storage.keys import encode_key, join_key
from shared.storage.tables import Entity, TableStore

SERVICE_PEOPLE = "servicepeople"


@dataclass
class PersonMapping:
    org: str
    integration_id: str
    person: str
    email: str  # lower-cased, as matched
    directory_id: str | None
    reason: MatchReason | None
    matched_at: datetime
    sync: bool = True
    detail: str = ""
    last_error: str | None = None
    last_error_at: datetime | None = None
    etag: str | None = None

    @property
    def matched(self) -> bool:
        return self.directory_id is not None

    @property
    def syncs(self) -> bool:
        """Matched and sync on: the engine syncs this person's calendar."""
        return self.directory_id is not None and self.sync


def _entity(m: PersonMapping) -> Entity:
    return Entity(
        join_key(m.org, m.integration_id),
        encode_key(m.person),
        {
            "org": m.org,
            "integration_id": m.integration_id,
            "person": m.person,
            "email": m.email,
            "directory_id": m.directory_id,
            "reason": m.reason.value if m.reason else None,
            "matched_at": m.matched_at,
            "sync": m.sync,
            "detail": m.detail,
            "last_error": m.last_error,
            "last_error_at": m.last_error_at,
        },
        m.etag,
    )


def _mapping(e: Entity) -> PersonMapping:
    matched_at = e.fields.get("matched_at")
    error_at = e.fields.get("last_error_at")
    reason = e.get_str("reason")
    return PersonMapping(
        org=e.get_str("org"),
        integration_id=e.get_str("integration_id"),
        person=e.get_str("person"),
        email=e.get_str("email"),
        directory_id=e.get_str("directory_id") or None,
        reason=MatchReason(reason) if reason else None,
        matched_at=matched_at if isinstance(matched_at, datetime) else datetime.min,
        sync=e.fields.get("sync") is not False,
        detail=e.get_str("detail"),
        last_error=e.get_str("last_error") or None,
        last_error_at=error_at if isinstance(error_at, datetime) else None,
        etag=e.etag,
    )


class ServicePeople:
    """Reads and writes ``servicepeople``."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def get(self, org: str, integration_id: str, person: str) -> PersonMapping | None:
        e = self._tables.get(SERVICE_PEOPLE, join_key(org, integration_id), encode_key(person))
        return None if e is None else _mapping(e)

    def of_integration(self, org: str, integration_id: str) -> Iterator[PersonMapping]:
        for e in self._tables.query(SERVICE_PEOPLE, join_key(org, integration_id)):
            yield _mapping(e)

    def record_match(
        self, org: str, integration_id: str, person: str, email: str, match: Match, now: datetime
    ) -> PersonMapping:
        """Write a match outcome, keeping the person's sync switch and last error."""
        current = self.get(org, integration_id, person)
        mapping = PersonMapping(
            org=org,
            integration_id=integration_id,
            person=person,
            email=email,
            directory_id=match.user.id if match.user else None,
            reason=match.reason,
            matched_at=now,
            sync=current.sync if current else True,
            detail=match.detail,
            last_error=current.last_error if current else None,
            last_error_at=current.last_error_at if current else None,
        )
        stored = self._tables.upsert(SERVICE_PEOPLE, _entity(mapping))
        mapping.etag = stored.etag
        return mapping

    def save(self, mapping: PersonMapping) -> PersonMapping:
        stored = self._tables.upsert(SERVICE_PEOPLE, _entity(mapping))
        mapping.etag = stored.etag
        return mapping

    def remove(self, org: str, integration_id: str, person: str) -> bool:
        return self._tables.delete(
            SERVICE_PEOPLE, join_key(org, integration_id), encode_key(person)
        )

    def erase_integration(self, org: str, integration_id: str) -> int:
        return delete_partition(self._tables, SERVICE_PEOPLE, join_key(org, integration_id))
