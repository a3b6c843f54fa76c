"""The setup check of a service integration: run at creation and by ``POST .../test``.

Checks, in order (each failure is an issue from the diagnostics catalogue, with who must act):

1. ``token``: an app-only token from the identity platform (wrong, expired or pasted-ID
   secrets, unknown tenant or app show here);
2. ``directory``: one directory read (a missing admin consent shows here: Microsoft issues
   tokens without roles, so only Graph's 403 reveals it);
3. ``mailbox_read`` and ``mailbox_write``: on the named probe mailbox, or the first matched
   person's: a calendar read, then a probe event created and removed again (mailbox scope
   policies and mailbox-less users show here);
4. ``subscription``: a change subscription created and removed again (our webhook must answer
   the provider's validation); failure degrades to the 5-minute cycle;
5. ``rooms``: the room list; failure only degrades (rooms cannot be paired).

A blocking failure skips the checks after it. The run is stored like a workspace test run
(``testruns``), without calendar content.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from contextlib import closing
from datetime import timedelta

from shared.consent.context import ConsentContext
from shared.consent.testruns import CheckOutcome, Issue, Severity, TestRun, TestStatus
from shared.errors import ProviderError
from shared.integrations.model import Integration
from shared.providers.base import CalendarClient, EventDraft
from shared.service.model import ServiceConfig
from shared.service.ports import AppCredential, ServiceProvider

log = logging.getLogger(__name__)

CHECKS = ("token", "directory", "mailbox_read", "mailbox_write", "subscription", "rooms")
PROBE_SUBJECT = "Calendar integration setup check (removed automatically)"


class _Run:
    def __init__(self, provider: ServiceProvider, config: ServiceConfig, secret: str) -> None:
        self.provider = provider
        self.config = config
        self.secret = secret
        self.checks: list[CheckOutcome] = []
        self.issues: list[Issue] = []
        self.blocked = False

    def passed(self, name: str) -> None:
        self.checks.append(CheckOutcome(name, "passed"))

    def failed(self, name: str, exc: ProviderError, severity: Severity = "blocks") -> None:
        code = self.provider.issue_code(exc, _stage(name), self.config, self.secret)
        details = dict(self.provider.issue_details(self.config))
        details["raw"] = exc.detail[:500]
        if exc.provider_code:
            details["provider_code"] = exc.provider_code
        self.fail(name, code, severity, details)

    def fail(
        self, name: str, code: str, severity: Severity, details: dict[str, str] | None = None
    ) -> None:
        self.checks.append(CheckOutcome(name, "failed"))
        merged = {**self.provider.issue_details(self.config), **(details or {})}
        self.issues.append(Issue(code, name, severity, merged))
        if severity == "blocks":
            self.blocked = True

    def skip_rest(self) -> None:
        done = {c.name for c in self.checks}
        self.checks.extend(CheckOutcome(n, "skipped") for n in CHECKS if n not in done)


def _stage(check: str) -> str:
    return "mailbox" if check.startswith("mailbox") else check


def run_check(
    ctx: ConsentContext,
    integration: Integration,
    config: ServiceConfig,
    secret: str,
    provider: ServiceProvider,
    credential: AppCredential,
    *,
    actor: str,
    fallback_mailbox: str | None,
) -> TestRun:
    """Run every check and store the run; returns it (``PASSED`` when nothing blocks)."""
    started = ctx.clock.now()
    run = _Run(provider, config, secret)
    mailbox = config.probe_mailbox or fallback_mailbox
    try:
        credential.check()
        run.passed("token")
    except ProviderError as exc:
        run.failed("token", exc)
    if not run.blocked:
        try:
            provider.directory(config, credential).probe()
            run.passed("directory")
        except ProviderError as exc:
            run.failed("directory", exc)
    if not run.blocked:
        if mailbox is None:
            run.fail("mailbox_read", "service.no_probe_mailbox", "degrades")
        else:
            with closing(provider.calendar(config, credential, mailbox)) as client:
                _mailbox_checks(ctx, run, client, integration)
                if not run.blocked:
                    _subscription_check(ctx, run, client, integration)
                    try:
                        client.rooms()
                        run.passed("rooms")
                    except ProviderError as exc:
                        run.failed("rooms", exc, "degrades")
    run.skip_rest()
    status = TestStatus.FAILED if run.blocked else TestStatus.PASSED
    result = TestRun(
        org=integration.org,
        integration_id=integration.id,
        status=status,
        started_by=actor,
        started_at=started,
        finished_at=ctx.clock.now(),
        account=mailbox or "",
        tenant=config.settings.get("tenant_id", config.settings.get("domain", "")),
        checks=run.checks,
        issues=run.issues,
    )
    ctx.testruns.save(result)
    log.info(
        "service integration %s check %s: %s",
        integration.id,
        status.value,
        ",".join(i.code for i in run.issues) or "no issues",
    )
    return result


def _mailbox_checks(
    ctx: ConsentContext, run: _Run, client: CalendarClient, integration: Integration
) -> None:
    now = ctx.clock.now()
    try:
        client.events_between(now, now + timedelta(days=1), 1)
        run.passed("mailbox_read")
    except ProviderError as exc:
        run.failed("mailbox_read", exc)
        return
    draft = EventDraft(
        key=f"setup-check-{uuid.uuid4().hex}",
        app_ref=f"setup-check:{integration.id}",
        subject=PROBE_SUBJECT,
        # Far ahead and free: nobody's availability changes while it exists.
        start=now + timedelta(days=365),
        end=now + timedelta(days=365, minutes=15),
        show_as="free",
    )
    try:
        written = client.create_event(draft)
    except ProviderError as exc:
        run.failed("mailbox_write", exc)
        return
    try:
        client.delete_event(written.id)
    except ProviderError as exc:
        run.failed("mailbox_write", exc)
        return
    run.passed("mailbox_write")


def _subscription_check(
    ctx: ConsentContext, run: _Run, client: CalendarClient, integration: Integration
) -> None:
    provider = integration.provider.value
    lifecycle = f"{ctx.webhook_url(provider)}/lifecycle" if provider == "microsoft" else None
    try:
        sub = client.subscribe(
            notification_url=ctx.webhook_url(provider),
            client_state=secrets.token_urlsafe(24),
            expires_at=ctx.clock.now() + timedelta(hours=1),
            lifecycle_url=lifecycle,
            channel_id=f"check-{uuid.uuid4().hex}",
        )
    except ProviderError as exc:
        run.failed("subscription", exc, "degrades")
        return
    try:
        client.unsubscribe(sub)
    except ProviderError as exc:
        log.info("removing the setup check's subscription failed: %s", exc.code)
    run.passed("subscription")
