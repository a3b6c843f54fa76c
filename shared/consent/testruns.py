"""The test flow's record: one per integration, the latest run.

Table ``testruns``: PartitionKey = ``org|integration``, RowKey = ``latest``. The row holds who
started it, when, the outcome, the account and tenant it ran as, and the issues found (codes,
checks and details: no calendar content). The enabling admin's tokens are in the secret store
(``int-<id>-test``) so the result view can fetch the event preview live; they are erased with the
integration.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from shared.storage.keys import join_key
from shared.storage.tables import Entity, TableStore

TESTRUNS = "testruns"
Severity = Literal["blocks", "degrades"]


class TestStatus(StrEnum):
    __test__ = False  # not a pytest test class, whatever its name
    AWAITING_CONSENT = "awaiting_consent"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class Issue:
    """One problem the test found; its texts come from the diagnostics catalogue by ``code``."""

    code: str
    check: str
    severity: Severity
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    outcome: Literal["passed", "failed", "skipped"]


@dataclass
class TestRun:
    __test__ = False
    org: str
    integration_id: str
    status: TestStatus
    started_by: str
    started_at: datetime
    finished_at: datetime | None = None
    account: str = ""
    tenant: str = ""
    checks: list[CheckOutcome] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def blocking(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "blocks"]


def test_secret_name(integration_id: str) -> str:
    return f"int-{integration_id}-test"


class TestRunRepository:
    __test__ = False

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def save(self, run: TestRun) -> None:
        self._tables.upsert(
            TESTRUNS,
            Entity(
                join_key(run.org, run.integration_id),
                "latest",
                {
                    "status": run.status.value,
                    "started_by": run.started_by,
                    "started_at": run.started_at,
                    "finished_at": run.finished_at,
                    "account": run.account,
                    "tenant": run.tenant,
                    "checks": json.dumps([asdict(c) for c in run.checks]),
                    "issues": json.dumps([asdict(i) for i in run.issues]),
                },
            ),
        )

    def latest(self, org: str, integration_id: str) -> TestRun | None:
        e = self._tables.get(TESTRUNS, join_key(org, integration_id), "latest")
        if e is None:
            return None
        started_at = e.fields["started_at"]
        finished_at = e.fields.get("finished_at")
        if not isinstance(started_at, datetime):
            raise ValueError("test run row without started_at")
        return TestRun(
            org=org,
            integration_id=integration_id,
            status=TestStatus(e.get_str("status")),
            started_by=e.get_str("started_by"),
            started_at=started_at,
            finished_at=finished_at if isinstance(finished_at, datetime) else None,
            account=e.get_str("account"),
            tenant=e.get_str("tenant"),
            checks=[CheckOutcome(**c) for c in json.loads(e.get_str("checks") or "[]")],
            issues=[Issue(**i) for i in json.loads(e.get_str("issues") or "[]")],
        )

    def erase_integration(self, org: str, integration_id: str) -> bool:
        return self._tables.delete(TESTRUNS, join_key(org, integration_id), "latest")
