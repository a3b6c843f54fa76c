"""Service integrations end to end: create, check, rotate, match, stop/start a person, view.

The HTTP layer calls :class:`ServiceIntegrations`; it works through the provider-neutral
seams (:mod:`shared.service.ports`) and the sync engine's queue.

Status (the article's words): *Active* is the lifecycle's ``enabled`` (the last setup check
passed), *Inactive* anything else (``draft``: never checked, ``test_failed``: the last check
found a blocking issue). A refused credential during sync is recorded on the settings row
(``credential_error``) and shown as the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.consent.context import ConsentContext
from shared.consent.testruns import TestRun, TestStatus
from shared.errors import BadRequest, ConcurrencyConflict, NotFound, ProviderError
from shared.integrations.model import HistoryEntry, Integration, Kind, Provider, Status
from shared.service.check import run_check
from shared.service.config import ServiceConfigs
from shared.service.matching import MatchReport, match_people
from shared.service.model import ServiceConfig
from shared.service.people_map import PersonMapping, ServicePeople
from shared.service.registry import service_provider, type_label
from shared.service.runtime import credential_refused, service_client
from shared.storage.queues import QueueSender
from shared.sync import subscriptions
from shared.sync.busy import BusyStore
from shared.sync.calendars import CalendarRef
from shared.sync.context import SYNC_QUEUE
from shared.sync.cursors import CursorStore
from shared.sync.health import status as sync_status
from shared.sync.people import People, Person

log = logging.getLogger(__name__)

DAILY = timedelta(days=1)
EXPIRY_WARNINGS = (30, 7, 1)  # days before the credential expires


def status_label(integration: Integration) -> str:
    return "Active" if integration.status is Status.ENABLED else "Inactive"


@dataclass(frozen=True)
class Outcome:
    integration: Integration
    config: ServiceConfig
    run: TestRun | None
    report: MatchReport | None


@dataclass(frozen=True)
class PersonRow:
    """One line of the people view (matched or not)."""

    person: str
    name: str
    email: str
    matched: bool
    directory_id: str | None
    reason: str | None
    sync: bool
    last_sync: datetime | None
    last_error: str | None
    matched_at: datetime | None


def days_left(config: ServiceConfig, now: datetime) -> int | None:
    if config.credential_expires_on is None:
        return None
    return (config.credential_expires_on - now).days


class ServiceIntegrations:
    def __init__(self, ctx: ConsentContext, queues: Callable[[], QueueSender]) -> None:
        """``queues`` is called when a sync is to be queued (the maintenance timer's upkeep
        may never need one)."""
        self.ctx = ctx
        self._queues = queues
        self.configs = ServiceConfigs(self.ctx.tables, self.ctx.secrets)
        self.people = ServicePeople(self.ctx.tables)

    # --- create, check, rotate ----------------------------------------------------------------

    def create(
        self,
        org: str,
        actor: str,
        provider: Provider,
        name: str | None,
        credentials: Mapping[str, Any] | None,
    ) -> Outcome:
        """Create, store the credential at once, match everyone, run the setup check; Active
        when it passes, and every matched person's first sync is queued right away."""
        if credentials is None:
            raise BadRequest("a service integration needs credentials", code="credentials_required")
        implementation = service_provider(self.ctx.settings, provider.value)
        parsed = implementation.parse(credentials)
        integration = self.ctx.lifecycle.create(
            org, actor, kind=Kind.SERVICE, provider=provider, name=name
        )
        now = self.ctx.clock.now()
        # The secret goes to the secret store before anything else refers to it.
        self.configs.set_secret(integration.id, parsed.secret)
        config = self.configs.save(
            ServiceConfig(
                org=org,
                integration_id=integration.id,
                provider=provider.value,
                credential_type=parsed.credential_type,
                settings=parsed.settings,
                credential_expires_on=parsed.expires_on,
                probe_mailbox=parsed.probe_mailbox,
                credential_set_at=now,
            )
        )
        return self._check_and_match(integration, config, actor)

    def check(self, org: str, integration_id: str, actor: str) -> Outcome:
        integration = self._service(org, integration_id)
        return self._check_and_match(integration, self.configs.get(org, integration_id), actor)

    def rotate(
        self, org: str, integration_id: str, actor: str, credentials: Mapping[str, Any]
    ) -> Outcome:
        """Replace the secret or certificate (tenant and client id kept unless given); people
        mappings, event mappings and subscriptions stay as they are."""
        integration = self._service(org, integration_id)
        config = self.configs.get(org, integration_id)
        implementation = service_provider(self.ctx.settings, config.provider)
        parsed = implementation.parse(credentials, current=config)
        self.configs.set_secret(integration.id, parsed.secret)
        config.credential_type = parsed.credential_type
        config.settings = parsed.settings
        config.credential_expires_on = parsed.expires_on
        config.probe_mailbox = parsed.probe_mailbox
        config.credential_version += 1
        config.credential_set_at = self.ctx.clock.now()
        config.credential_error = None
        config.expiry_warned = ""
        self.configs.save(config)
        self.ctx.integrations.record(
            integration,
            HistoryEntry(
                self.ctx.clock.now(), actor, "credentials_rotated", parsed.credential_type
            ),
        )
        return self._check_and_match(integration, config, actor)

    def _check_and_match(
        self, integration: Integration, config: ServiceConfig, actor: str
    ) -> Outcome:
        implementation = service_provider(self.ctx.settings, config.provider)
        secret = self.configs.secret(config)
        credential = implementation.credential(config, secret)
        report: MatchReport | None = None
        try:
            report = match_people(
                self.ctx,
                integration.org,
                integration.id,
                implementation.directory(config, credential),
            )
            config.matched_at = self.ctx.clock.now()
        except ProviderError as exc:
            # The check below says why (token, consent); matching reruns once it passes.
            log.info("matching for %s skipped: %s", integration.id, exc.code)
        first = next(
            (
                m.directory_id
                for m in sorted(
                    self.people.of_integration(integration.org, integration.id),
                    key=lambda m: m.person,
                )
                if m.directory_id
            ),
            None,
        )
        run = run_check(
            self.ctx,
            integration,
            config,
            secret,
            implementation,
            credential,
            actor=actor,
            fallback_mailbox=first,
        )
        passed = run.status is TestStatus.PASSED
        integration = self.ctx.lifecycle.service_check_finished(
            integration, actor, passed=passed, tenant=run.tenant
        )
        if passed:
            config.credential_error = None
        else:
            config.credential_error = next((i.code for i in run.blocking), None)
        config = self._save_check_outcome(config)
        if passed:
            self.start_all(integration)
        else:
            refused = next((i for i in run.blocking if i.check == "token"), None)
            code = refused.details.get("provider_code", "") if refused else ""
            if refused is not None and implementation.credential_invalid(
                ProviderError(refused.code, provider=config.provider, provider_code=code)
            ):
                credential_refused(self.ctx, integration, config, refused.code, code, actor)
        return Outcome(integration, config, run, report)

    def _save_check_outcome(self, config: ServiceConfig) -> ServiceConfig:
        """Save what matching and the check decided. Sync may have recorded a refused
        credential on the row meanwhile (``report_credential_invalid``, while the check ran
        with the same credential): a conflict re-reads the row and applies the outcome again,
        the check being the newer verdict on that credential version. A row rotated again
        meanwhile is left to that rotation's own check."""
        for _ in range(5):
            try:
                return self.configs.save(config)
            except ConcurrencyConflict:
                fresh = self.configs.get(config.org, config.integration_id)
                if fresh.credential_version != config.credential_version:
                    return fresh
                fresh.credential_error = config.credential_error
                fresh.matched_at = config.matched_at
                config = fresh
        return self.configs.save(config)

    # --- people ---------------------------------------------------------------------------------

    def rematch(
        self, integration: Integration, people: Sequence[Person] | None = None
    ) -> MatchReport | None:
        """Match ``people`` (default: everyone); new matches start syncing at once, lost ones
        stop. ``None`` when the directory cannot be reached (the reason is logged)."""
        config = self.configs.get(integration.org, integration.id)
        implementation = service_provider(self.ctx.settings, config.provider)
        credential = implementation.credential(config, self.configs.secret(config))
        try:
            report = match_people(
                self.ctx,
                integration.org,
                integration.id,
                implementation.directory(config, credential),
                people,
            )
        except ProviderError as exc:
            log.warning("matching for %s failed: %s", integration.id, exc.code)
            return None
        if people is None:
            config.matched_at = self.ctx.clock.now()
            self.configs.save(config)
        for lost in report.lost:
            self._stop(integration, lost)
        if integration.status is Status.ENABLED:
            for started in report.started:
                if started.sync:
                    self._enqueue(integration, started)
        return report

    def people_changed(self, org: str, people: Sequence[Person]) -> None:
        """The host app put people: match them under every active service integration."""
        for integration in self.ctx.integrations.for_org(org):
            if integration.kind is Kind.SERVICE and integration.status is Status.ENABLED:
                self.rematch(integration, people)

    def set_sync(self, org: str, integration_id: str, person: str, on: bool) -> PersonMapping:
        integration = self._service(org, integration_id)
        mapping = self.people.get(org, integration_id, person)
        if mapping is None:
            raise NotFound(f"person {person!r} is not known to this integration")
        if mapping.sync == on:
            return mapping
        mapping.sync = on
        self.people.save(mapping)
        if not on:
            self._stop(integration, mapping)
        elif mapping.matched and integration.status is Status.ENABLED:
            # A full resync: the cursor was dropped when sync stopped; mapping rows stayed, so
            # the service's events are found again instead of being created twice.
            self._enqueue(integration, mapping)
        return mapping

    def rows(self, org: str, integration_id: str) -> list[PersonRow]:
        """Every host-app person of the organisation, matched or not."""
        self._service(org, integration_id)
        mappings = {m.person: m for m in self.people.of_integration(org, integration_id)}
        out = []
        for person in People(self.ctx.tables).for_org(org):
            m = mappings.get(person.id)
            key = CalendarRef(org, integration_id, "", person.id).key
            st = sync_status(self.ctx.tables, org, key) if m and m.matched else None
            error = st.last_error if st and st.consecutive_failures > 0 else None
            out.append(
                PersonRow(
                    person=person.id,
                    name=person.name,
                    email=person.email,
                    matched=bool(m and m.matched),
                    directory_id=m.directory_id if m else None,
                    reason=(m.reason.value if m and m.reason else None) if m else "not_matched_yet",
                    sync=m.sync if m else True,
                    last_sync=st.last_success_at if st else None,
                    last_error=error or (m.last_error if m else None),
                    matched_at=m.matched_at if m else None,
                )
            )
        return out

    # --- sync wiring ---------------------------------------------------------------------------

    def start_all(self, integration: Integration) -> int:
        """Queue the first sync (subscription, push, pull) of every synced person now."""
        count = 0
        for mapping in self.people.of_integration(integration.org, integration.id):
            if mapping.syncs:
                self._enqueue(integration, mapping)
                count += 1
        return count

    def _ref(self, integration: Integration, mapping: PersonMapping) -> CalendarRef:
        return CalendarRef(
            integration.org,
            integration.id,
            integration.provider.value,
            mapping.person,
            mapping.directory_id or "",
        )

    def _enqueue(self, integration: Integration, mapping: PersonMapping) -> None:
        self._queues().send(SYNC_QUEUE, self._ref(integration, mapping).message())

    def _stop(self, integration: Integration, mapping: PersonMapping) -> None:
        """No more push or pull for this person: subscription removed (at the provider, best
        effort), cursor and busy intervals dropped; event mappings stay for a restart."""
        ref = self._ref(integration, mapping)
        client = None
        if mapping.directory_id:
            try:
                client = service_client(self.ctx, integration, mapping.directory_id)
            except (NotFound, ProviderError) as exc:
                log.info("no client to stop %s: %s", ref.key, exc.code)
        try:
            subscriptions.remove(self.ctx, ref, client)
        finally:
            if client is not None:
                client.close()
        CursorStore(self.ctx.tables).drop(ref.key)
        BusyStore(self.ctx.tables).clear(ref.key)

    # --- upkeep (hourly, from the maintenance timer) -------------------------------------------

    def upkeep(self) -> int:
        """Expiry warnings and the daily re-match of every service integration; returns how
        many integrations were looked at. One integration's failure does not stop the others."""
        count = 0
        for integration in self.ctx.integrations.list_all():
            if integration.kind is not Kind.SERVICE:
                continue
            count += 1
            try:
                self._upkeep(integration)
            except ProviderError as exc:
                log.warning("upkeep of %s: %s", integration.id, exc.code)
        return count

    def _upkeep(self, integration: Integration) -> None:
        config = self.configs.find(integration.org, integration.id)
        if config is None:
            return
        now = self.ctx.clock.now()
        self._warn_expiry(integration, config, now)
        due = config.matched_at is None or now - config.matched_at >= DAILY
        if integration.status is Status.ENABLED and due:
            self.rematch(integration)

    def _warn_expiry(self, integration: Integration, config: ServiceConfig, now: datetime) -> None:
        """``credentials_expiring`` once at 30, 7 and 1 days before the expiry: the smallest
        threshold reached is told (a credential entered 5 days before expiry gets the 7-day
        warning only), per credential version."""
        left = days_left(config, now)
        if left is None:
            return
        warned = set(filter(None, config.expiry_warned.split(",")))
        reached = [t for t in EXPIRY_WARNINGS if left < t and str(t) not in warned]
        if not reached:
            return
        threshold = min(reached)
        assert config.credential_expires_on is not None
        self.ctx.outbox.append(
            integration.org,
            "credentials_expiring",
            {
                "integration_id": integration.id,
                "name": integration.name,
                "provider": config.provider,
                "credential_type": config.credential_type,
                "expires_on": config.credential_expires_on.isoformat(),
                "days_left": max(0, left),
                "warning": threshold,
            },
            dedupe_key=f"credentials_expiring:{integration.id}:"
            f"{config.credential_version}:{threshold}",
        )
        warned |= {str(t) for t in EXPIRY_WARNINGS if t >= threshold}
        config.expiry_warned = ",".join(sorted(warned, key=int))
        self.configs.save(config)

    # --- helpers ---------------------------------------------------------------------------------

    def _service(self, org: str, integration_id: str) -> Integration:
        integration = self.ctx.integrations.get(org, integration_id)
        if integration.kind is not Kind.SERVICE:
            raise BadRequest("this is not a service integration", code="not_a_service_integration")
        return integration

    def type_label(self, integration: Integration) -> str:
        return type_label(integration.provider.value)
