"""The integration record and the facts the lifecycle rules need.

An integration belongs to one organisation (``org``) and has a kind:

* ``workspace``: delegated access, each user consents (seeds: consent troubleshooting and
  enabling the per-user integration). At most one per organisation is enabled at a time.
* ``service``: app-only credentials, people matched by email (seed: service-level sync).

Status of a workspace integration::

    draft --test--> testing --callback--> test_passed | test_failed --test--> testing ...
    test_passed --enable--> enabled --disable--> disabled --enable (before purge_at)--> enabled
    disabled --(purge_at passed)--> erased: the record and everything hanging off it are deleted
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

CONSENT_RETENTION = timedelta(days=5)


class Kind(StrEnum):
    WORKSPACE = "workspace"
    SERVICE = "service"


class Provider(StrEnum):
    MICROSOFT = "microsoft"
    GOOGLE = "google"


class Status(StrEnum):
    DRAFT = "draft"
    TESTING = "testing"
    TEST_FAILED = "test_failed"
    TEST_PASSED = "test_passed"
    ENABLED = "enabled"
    DISABLED = "disabled"


@dataclass
class Integration:
    """One integration. Timestamps are UTC; ``etag`` guards concurrent updates."""

    org: str
    id: str
    kind: Kind
    provider: Provider
    name: str
    status: Status
    created_at: datetime
    created_by: str
    updated_at: datetime
    # The Entra tenant id or Google Workspace domain the passed test ran against.
    tenant: str | None = None
    test_passed_at: datetime | None = None
    enabled_at: datetime | None = None
    enabled_by: str | None = None
    disabled_at: datetime | None = None
    disabled_by: str | None = None
    purge_at: datetime | None = None
    etag: str | None = field(default=None, compare=False)

    @property
    def is_enabled(self) -> bool:
        return self.status is Status.ENABLED

    def retention_over(self, now: datetime) -> bool:
        """Disabled and past its consent retention: due for erasure."""
        return self.status is Status.DISABLED and self.purge_at is not None and now >= self.purge_at


@dataclass(frozen=True)
class HistoryEntry:
    """A recorded transition: who did what, when (shown to admins)."""

    at: datetime
    actor: str
    action: str
    detail: str = ""
