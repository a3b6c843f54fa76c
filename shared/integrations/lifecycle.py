"""The rules of an integration's life: create, enable, disable, re-enable.

Rules (seed "enabling the per-user integration"; product.md):

* Enabling needs a passed test flow (``test_required`` otherwise).
* Only one workspace integration is enabled per organisation. Enabling a second answers
  ``another_integration_active`` (409) naming the active one and what disabling it means, unless
  the request confirms the replacement; then the active one is disabled (with its retention) first.
* Disabling answers ``confirmation_required`` (409) listing the consequences unless confirmed:
  users can no longer connect and existing connections stop, rooms are unpaired but their
  information is kept, consent is kept until ``purge_at`` (5 days).
* Re-enabling before ``purge_at`` restores every user connection as it was: connections are never
  touched by disabling, only ignored while the integration is not enabled. After ``purge_at`` the
  purge erases everything (see :mod:`shared.integrations.retention`).

Every transition is recorded in the integration's history (who, when, what).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.clock import Clock
from shared.errors import ConcurrencyConflict, Conflict
from shared.integrations.model import (
    CONSENT_RETENTION,
    HistoryEntry,
    Integration,
    Kind,
    Provider,
    Status,
)
from shared.integrations.repository import IntegrationRepository
from shared.rooms.pairings import RoomPairings

DEFAULT_NAMES = {Provider.MICROSOFT: "Microsoft 365", Provider.GOOGLE: "Google Workspace"}


def disable_consequences(purge_at: datetime) -> list[str]:
    """What disabling means, in the words the admin confirms."""
    return [
        "Users can no longer connect their calendars, and existing connections stop syncing.",
        "Meeting rooms are unpaired; room information, including email addresses, is kept.",
        f"User consent is kept until {purge_at.isoformat()}: re-enabling before then restores "
        "every user without reconnecting. After that, tokens, mappings and subscriptions are "
        "erased and users must connect again.",
        "Consent granted in the cloud suite itself stays until its administrator removes it.",
    ]


@dataclass(frozen=True)
class Summary:
    id: str
    provider: str
    name: str


class IntegrationLifecycle:
    """Applies the lifecycle rules; the only writer of integration status."""

    def __init__(
        self, repository: IntegrationRepository, rooms: RoomPairings, clock: Clock
    ) -> None:
        self._repo = repository
        self._rooms = rooms
        self._clock = clock

    def create(
        self, org: str, actor: str, *, kind: Kind, provider: Provider, name: str | None = None
    ) -> Integration:
        now = self._clock.now()
        integration = Integration(
            org=org,
            id=uuid.uuid4().hex,
            kind=kind,
            provider=provider,
            name=name or DEFAULT_NAMES[provider],
            status=Status.DRAFT,
            created_at=now,
            created_by=actor,
            updated_at=now,
        )
        self._repo.insert(integration)
        self._repo.record(integration, HistoryEntry(now, actor, "created", f"{kind} {provider}"))
        return integration

    def test_started(self, integration: Integration, actor: str) -> Integration:
        """A test flow began; an enabled integration stays enabled while it is retested."""
        now = self._clock.now()
        if integration.status not in (Status.ENABLED, Status.DISABLED):
            integration.status = Status.TESTING
        integration.updated_at = now
        self._repo.save(integration)
        self._repo.record(integration, HistoryEntry(now, actor, "test_started"))
        return integration

    def test_finished(
        self, integration: Integration, actor: str, *, passed: bool, tenant: str | None
    ) -> Integration:
        now = self._clock.now()
        if passed:
            integration.test_passed_at = now
            integration.tenant = tenant or integration.tenant
        if integration.status not in (Status.ENABLED, Status.DISABLED):
            integration.status = Status.TEST_PASSED if passed else Status.TEST_FAILED
        integration.updated_at = now
        self._repo.save(integration)
        outcome = "test_passed" if passed else "test_failed"
        self._repo.record(integration, HistoryEntry(now, actor, outcome, tenant or ""))
        return integration

    def service_check_finished(
        self, integration: Integration, actor: str, *, passed: bool, tenant: str | None
    ) -> Integration:
        """A service integration's setup check ended: passed makes it Active (``enabled``),
        failed makes it Inactive (``test_failed``) until a check passes again. Service
        integrations have no consent to keep, so they never go through ``disabled`` and its
        5-day retention; several may be active beside a workspace integration.

        A sync run that meets a refused credential saves the row too (it makes the integration
        Inactive): on a conflict the row is read again and this check's verdict applied to it,
        the check that just ended being the newest word on the credential it ran with."""
        now = self._clock.now()
        for attempt in range(5):
            was = integration.status
            if passed:
                integration.test_passed_at = now
                integration.tenant = tenant or integration.tenant
                integration.status = Status.ENABLED
                if was is not Status.ENABLED:
                    integration.enabled_at = now
                    integration.enabled_by = actor
            else:
                integration.status = Status.TEST_FAILED
            integration.updated_at = now
            try:
                self._repo.save(integration)
                break
            except ConcurrencyConflict:
                if attempt == 4:
                    raise
                integration = self._repo.get(integration.org, integration.id)
        outcome = "check_passed" if passed else "check_failed"
        self._repo.record(integration, HistoryEntry(now, actor, outcome, tenant or ""))
        if passed and was is not Status.ENABLED:
            self._repo.record(integration, HistoryEntry(now, actor, "enabled"))
        return integration

    def enable(
        self, org: str, integration_id: str, actor: str, *, confirm_replace: bool = False
    ) -> Integration:
        integration = self._repo.get(org, integration_id)
        now = self._clock.now()
        if integration.is_enabled:
            return integration
        if integration.retention_over(now):
            raise Conflict(
                "the consent retention of this integration is over; it is being erased. "
                "Create a new integration and run its test.",
                code="retention_over",
            )
        if integration.test_passed_at is None:
            raise Conflict(
                "run the test flow and fix what it reports before enabling",
                code="test_required",
                status=integration.status.value,
            )
        if integration.kind is Kind.WORKSPACE:
            active = [
                other
                for other in self._repo.for_org(org)
                if other.kind is Kind.WORKSPACE and other.is_enabled and other.id != integration.id
            ]
            if active and not confirm_replace:
                current = active[0]
                raise Conflict(
                    f"{current.name} is the active calendar integration; only one cloud suite "
                    "can be enabled at a time. Confirm to disable it and enable this one.",
                    code="another_integration_active",
                    active=Summary(current.id, current.provider.value, current.name).__dict__,
                    consequences=disable_consequences(now + CONSENT_RETENTION),
                )
            for current in active:
                self._disable(current, actor, now, reason=f"replaced by {integration.id}")
        restored = integration.status is Status.DISABLED
        integration.status = Status.ENABLED
        integration.enabled_at = now
        integration.enabled_by = actor
        integration.disabled_at = None
        integration.disabled_by = None
        integration.purge_at = None
        integration.updated_at = now
        self._repo.save(integration)
        action = "re-enabled" if restored else "enabled"
        detail = "user connections restored" if restored else ""
        self._repo.record(integration, HistoryEntry(now, actor, action, detail))
        return integration

    def disable(
        self, org: str, integration_id: str, actor: str, *, confirm: bool = False
    ) -> Integration:
        integration = self._repo.get(org, integration_id)
        now = self._clock.now()
        if integration.status is Status.DISABLED:
            return integration
        if not integration.is_enabled:
            raise Conflict("the integration is not enabled", code="not_enabled")
        if not confirm:
            purge_at = now + CONSENT_RETENTION
            raise Conflict(
                "disabling has consequences; confirm to proceed",
                code="confirmation_required",
                consequences=disable_consequences(purge_at),
                purge_at=purge_at.isoformat(),
            )
        return self._disable(integration, actor, now, reason="")

    def _disable(
        self, integration: Integration, actor: str, now: datetime, reason: str
    ) -> Integration:
        integration.status = Status.DISABLED
        integration.disabled_at = now
        integration.disabled_by = actor
        integration.purge_at = now + CONSENT_RETENTION
        integration.updated_at = now
        self._repo.save(integration)
        unpaired = self._rooms.unpair_all(integration.org, integration.id, now)
        detail = f"purge at {integration.purge_at.isoformat()}; {unpaired} rooms unpaired"
        if reason:
            detail += f"; {reason}"
        self._repo.record(integration, HistoryEntry(now, actor, "disabled", detail))
        return integration
