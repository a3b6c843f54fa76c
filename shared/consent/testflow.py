"""The test flow an admin runs before enabling a workspace integration.

``start`` sends the admin through the provider's consent (authorization code with PKCE). The
callback (``finish``) redeems the code and checks, one by one, everything enabling depends on:

=================  ==========================================================  ============
check              how                                                          on failure
=================  ==========================================================  ============
consent            the callback carries a code, and the code redeems           blocks
scopes             the granted scopes include what the service needs            blocks
profile            read the signed-in account (Graph ``/me``; Google primary)   blocks
read_calendar      read the admin's upcoming events                             blocks
write_calendar     ``Calendars.ReadWrite`` / ``calendar.events`` was granted    blocks
rooms              list the suite's rooms (app-only ``Place.Read.All`` for      degrades
                   Microsoft, the Admin directory resource scope for Google)
webhook            the provider reaches our notification URL: a short-lived     degrades
                   subscription/channel is created and removed again
=================  ==========================================================  ============

Every failure becomes an issue with a catalogue code (texts, who must act and the fix come from
the diagnostics catalogue at read time). The run passes when no issue blocks. The admin's tokens
are kept (secret store) so that the result view can show a preview of one real upcoming event,
fetched live on each read and never stored.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta

from shared.consent.context import ConsentContext
from shared.consent.oauth_state import PendingAuth
from shared.consent.return_to import check_return_to
from shared.consent.scopes import (
    GOOGLE_DELEGATED,
    GOOGLE_EVENTS,
    GOOGLE_REQUIRED,
    GOOGLE_ROOMS,
    MICROSOFT_DELEGATED,
    MICROSOFT_REQUIRED,
    MICROSOFT_WRITE,
    normalise,
)
from shared.consent.testruns import (
    CheckOutcome,
    Issue,
    Severity,
    TestRun,
    TestStatus,
    test_secret_name,
)
from shared.consent.tokens import StoredTokens
from shared.diagnostics.diagnose import diagnose_google, diagnose_microsoft
from shared.errors import (
    BadRequest,
    ConsentFailed,
    ProviderDenied,
    ProviderError,
    ProviderUnavailable,
    ReconnectNeeded,
    Throttled,
)
from shared.integrations.model import Integration, Kind, Provider
from shared.providers.base import CalendarClient, EventView, Grant

log = logging.getLogger(__name__)

PREVIEW_WINDOW = timedelta(days=30)
WEBHOOK_PROBE_LIFETIME = timedelta(minutes=15)


def scopes_for(provider: Provider) -> tuple[str, ...]:
    return MICROSOFT_DELEGATED if provider is Provider.MICROSOFT else GOOGLE_DELEGATED


def consent_issue(provider: str, exc: ConsentFailed) -> Issue:
    """The catalogue code for a failed consent or code redemption."""
    if provider == Provider.MICROSOFT:
        diagnosis = diagnose_microsoft(
            exc.error, exc.error_description, exc.error_codes, exc.suberror
        )
    else:
        diagnosis = diagnose_google(exc.error, exc.error_description)
    details = dict(diagnosis.details)
    if diagnosis.raw:
        details["raw"] = diagnosis.raw
    return Issue(diagnosis.code, "consent", "blocks", details)


def provider_issue(check: str, exc: ProviderError, severity: Severity, denied_code: str) -> Issue:
    """The catalogue code for a provider call that failed during a check."""
    details = {"provider_code": exc.provider_code or "", "raw": exc.detail}
    if isinstance(exc, ProviderDenied):
        return Issue(denied_code, check, severity, details)
    if isinstance(exc, ReconnectNeeded):
        return Issue("revoked_token", check, "blocks", details)
    if isinstance(exc, Throttled):
        return Issue("throttled", check, severity, details)
    if isinstance(exc, ProviderUnavailable):
        return Issue("provider_unavailable", check, severity, details)
    return Issue("unknown", check, severity, details)


@dataclass(frozen=True)
class TestResult:
    run: TestRun
    preview: EventView | None
    preview_note: str | None


class TestFlow:
    """Starts test runs, finishes them on the OAuth callback, and reads their results."""

    __test__ = False

    def __init__(self, ctx: ConsentContext) -> None:
        self.ctx = ctx

    def start(self, org: str, integration_id: str, admin: str, return_to: str | None) -> str:
        """Begin a (re)run; returns the provider URL to send the admin to."""
        ctx = self.ctx
        if return_to is not None:
            check_return_to(return_to, ctx.settings.allowed_return_urls)
        integration = ctx.integrations.get(org, integration_id)
        if integration.kind is not Kind.WORKSPACE:
            raise BadRequest(
                "only workspace integrations have a consent test flow",
                code="not_a_workspace_integration",
            )
        ctx.lifecycle.test_started(integration, admin)
        ctx.testruns.save(
            TestRun(org, integration.id, TestStatus.AWAITING_CONSENT, admin, ctx.clock.now())
        )
        return ctx.start_sign_in(
            integration,
            purpose="test",
            subject=admin,
            return_to=return_to,
            scopes=scopes_for(integration.provider),
        )

    def finish(
        self, integration: Integration, pending: PendingAuth, params: dict[str, str]
    ) -> TestRun:
        """Redeem the code and run every check; record the outcome and return it."""
        ctx = self.ctx
        run = TestRun(
            integration.org, integration.id, TestStatus.FAILED, pending.subject, ctx.clock.now()
        )
        auth = ctx.kit.delegated(integration.provider)
        try:
            grant = auth.complete(pending.flow, params)
            run.checks.append(CheckOutcome("consent", "passed"))
        except ConsentFailed as exc:
            run.checks.append(CheckOutcome("consent", "failed"))
            run.issues.append(consent_issue(integration.provider, exc))
            return self._record(integration, run, None)
        run.account, run.tenant = grant.account, grant.tenant
        # The admin's grant is kept for the live preview; the integration's erasure removes it.
        ctx.secrets.set(test_secret_name(integration.id), grant.token_blob)
        tokens = ctx.admin_grant_tokens(integration)
        self._check_scopes(integration, grant, run)
        with closing(ctx.kit.calendar(integration.provider, tokens)) as calendar:
            self._check(run, "profile", "blocks", "missing_scope", calendar.profile)
            self._check(
                run,
                "read_calendar",
                "blocks",
                "missing_scope",
                lambda: calendar.events_between(
                    ctx.clock.now(), ctx.clock.now() + PREVIEW_WINDOW, 1
                ),
            )
            self._check_rooms(integration, grant, tokens, run)
            self._check_webhook(integration, calendar, run)
        return self._record(integration, run, grant)

    def _record(self, integration: Integration, run: TestRun, grant: Grant | None) -> TestRun:
        ctx = self.ctx
        run.finished_at = ctx.clock.now()
        run.status = TestStatus.FAILED if run.blocking or grant is None else TestStatus.PASSED
        ctx.testruns.save(run)
        ctx.lifecycle.test_finished(
            ctx.integrations.get(integration.org, integration.id),
            run.started_by,
            passed=run.status is TestStatus.PASSED,
            tenant=grant.tenant if grant else None,
        )
        return run

    @staticmethod
    def _check(
        run: TestRun, name: str, severity: Severity, denied_code: str, call: Callable[[], object]
    ) -> bool:
        try:
            call()
        except ProviderError as exc:
            run.checks.append(CheckOutcome(name, "failed"))
            run.issues.append(provider_issue(name, exc, severity, denied_code))
            return False
        run.checks.append(CheckOutcome(name, "passed"))
        return True

    def _check_scopes(self, integration: Integration, grant: Grant, run: TestRun) -> None:
        granted = normalise(set(grant.scopes))
        if integration.provider is Provider.MICROSOFT:
            required, write = MICROSOFT_REQUIRED, MICROSOFT_WRITE
        else:
            required, write = GOOGLE_REQUIRED, GOOGLE_EVENTS
        missing = sorted(required - granted)
        run.checks.append(CheckOutcome("scopes", "failed" if missing else "passed"))
        for scope in missing:
            run.issues.append(Issue("missing_scope", "scopes", "blocks", {"scope": scope}))
        run.checks.append(
            CheckOutcome("write_calendar", "passed" if write in granted else "failed")
        )
        if write not in granted:
            run.issues.append(
                Issue("calendar_write_not_permitted", "write_calendar", "blocks", {"scope": write})
            )

    def _check_rooms(
        self, integration: Integration, grant: Grant, tokens: StoredTokens, run: TestRun
    ) -> None:
        if integration.provider is Provider.GOOGLE and GOOGLE_ROOMS not in grant.scopes:
            run.checks.append(CheckOutcome("rooms", "failed"))
            run.issues.append(
                Issue("room_listing_not_permitted", "rooms", "degrades", {"scope": GOOGLE_ROOMS})
            )
            return
        with closing(
            self.ctx.kit.room_directory(integration.provider, tenant=grant.tenant, tokens=tokens)
        ) as directory:
            self._check(run, "rooms", "degrades", "room_listing_not_permitted", directory.rooms)

    def _check_webhook(
        self, integration: Integration, calendar: CalendarClient, run: TestRun
    ) -> None:
        ctx = self.ctx
        try:
            probe = calendar.subscribe(
                notification_url=ctx.webhook_url(integration.provider),
                lifecycle_url=(
                    ctx.webhook_url("microsoft/lifecycle")
                    if integration.provider is Provider.MICROSOFT
                    else None
                ),
                client_state=secrets.token_urlsafe(24),
                expires_at=ctx.clock.now() + WEBHOOK_PROBE_LIFETIME,
            )
        except ProviderError as exc:
            run.checks.append(CheckOutcome("webhook", "failed"))
            details = {"url": ctx.webhook_url(integration.provider), "raw": exc.detail}
            run.issues.append(Issue("webhook_unreachable", "webhook", "degrades", details))
            return
        run.checks.append(CheckOutcome("webhook", "passed"))
        try:
            calendar.unsubscribe(probe)
        except ProviderError:
            # The probe expires by itself within minutes; failing to remove it early is harmless.
            log.warning("could not remove the webhook probe subscription %s", probe.id)

    def result(self, org: str, integration_id: str, viewer: str) -> TestResult:
        """The latest run; the live preview only for the admin who ran it (it is their agenda)."""
        ctx = self.ctx
        integration = ctx.integrations.get(org, integration_id)
        run = ctx.testruns.latest(org, integration.id)
        if run is None:
            raise BadRequest("no test has been run for this integration", code="no_test_run")
        if run.status is not TestStatus.PASSED and not any(
            c.name == "read_calendar" and c.outcome == "passed" for c in run.checks
        ):
            return TestResult(run, None, None)
        if viewer != run.started_by:
            return TestResult(run, None, "the preview is shown only to the admin who ran the test")
        tokens = ctx.admin_grant_tokens(integration)
        now = ctx.clock.now()
        try:
            with closing(ctx.kit.calendar(integration.provider, tokens)) as calendar:
                events = calendar.events_between(now, now + PREVIEW_WINDOW, 1)
        except ProviderError as exc:
            return TestResult(run, None, f"the preview could not be fetched: {exc.code}")
        if not events:
            return TestResult(run, None, "no upcoming event in the next 30 days")
        return TestResult(run, events[0], None)
