"""Failed connection attempts, so an admin sees who tried to connect and why it failed.

Table ``connectfailures``: PartitionKey = ``org|integration``, RowKey = the person's subject. A
row holds the diagnostics catalogue code of the person's last failed attempt and when it
happened; a successful connection removes the row. The provider's message text is never kept:
it is free text the provider controls (and an OAuth error description may echo request values),
so only the reference (catalogue code, time) is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from shared.storage.bulk import delete_partition
from shared.storage.keys import encode_key, join_key
from shared.storage.tables import Entity, TableStore

CONNECT_FAILURES = "connectfailures"
# A catalogue code or a provider error code (AADSTS50105, admin_policy_enforced): nothing else.
_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True)
class FailedAttempt:
    subject: str
    code: str
    at: datetime


class FailedAttempts:
    """Reads and writes the ``connectfailures`` table."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def record(self, org: str, integration_id: str, subject: str, code: str, at: datetime) -> None:
        """Keep ``subject``'s latest failed attempt (the code only; anything that is not a
        plain code is stored as ``unknown``)."""
        safe = code if _CODE.fullmatch(code) else "unknown"
        self._tables.upsert(
            CONNECT_FAILURES,
            Entity(
                join_key(org, integration_id),
                encode_key(subject),
                {"subject": subject, "code": safe, "at": at},
            ),
        )

    def clear(self, org: str, integration_id: str, subject: str) -> None:
        """Forget ``subject``'s failed attempt (they connected)."""
        self._tables.delete(CONNECT_FAILURES, join_key(org, integration_id), encode_key(subject))

    def for_integration(self, org: str, integration_id: str) -> dict[str, FailedAttempt]:
        """Each person's last failed attempt, by subject."""
        found: dict[str, FailedAttempt] = {}
        for entity in self._tables.query(CONNECT_FAILURES, join_key(org, integration_id)):
            at = entity.fields.get("at")
            if not isinstance(at, datetime):
                continue  # a row we cannot use is skipped, not fatal to the view
            subject = entity.get_str("subject")
            found[subject] = FailedAttempt(subject, entity.get_str("code"), at)
        return found

    def erase_integration(self, org: str, integration_id: str) -> int:
        return delete_partition(self._tables, CONNECT_FAILURES, join_key(org, integration_id))
