"""Where the providers send the browser back: OAuth callbacks and Microsoft's admin consent.

Each callback consumes the signed, single-use ``state`` first; nothing else is trusted before
that. The outcome is a redirect to the flow's allow-listed ``return_to`` with the result in the
query (``test=passed|failed``, ``calendar=connected|error&code=...``,
``admin_consent=granted|error&code=...``), or, when the flow had no ``return_to`` (or the state is
unusable, so we cannot know one), a small HTML page that explains the outcome from the
diagnostics catalogue.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, replace

from shared.consent.browser_binding import clear_cookie, nonce_from
from shared.consent.connect import ConnectFlow, ConnectionFailed
from shared.consent.context import ConsentContext
from shared.consent.oauth_state import PendingAuth
from shared.consent.return_to import check_return_to, with_params
from shared.consent.testflow import TestFlow, consent_issue
from shared.diagnostics.catalogue import load_catalogue
from shared.diagnostics.page import render_error_page
from shared.diagnostics.service_context import service_context
from shared.errors import BadRequest, ConsentFailed, NotFound
from shared.integrations.model import HistoryEntry, Integration, Provider
from shared.settings import Settings

log = logging.getLogger(__name__)

STATE_ERRORS = {
    "expired_state": "sign_in_expired",
    "replayed_state": "sign_in_replayed",
    "forged_state": "sign_in_state_invalid",
    "missing_state": "sign_in_state_invalid",
}


@dataclass(frozen=True)
class CallbackOutcome:
    """A redirect (``location``) or an HTML page (``page`` with ``status``)."""

    location: str | None = None
    page: str | None = None
    status: int = 200
    set_cookies: tuple[str, ...] = ()


def _page(
    code: str,
    *,
    audience: str = "user",
    status: int = 400,
    context: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> CallbackOutcome:
    catalogue = load_catalogue()
    known = catalogue.resolve(code)
    own = (
        service_context(settings, catalogue.entry(known).provider)
        if settings is not None and known is not None
        else {}
    )
    diagnosis = catalogue.get(code, **{**own, **(context or {})})
    return CallbackOutcome(
        page=render_error_page(diagnosis, audience="admin" if audience == "admin" else "user"),
        status=status,
    )


def _success_page(title: str, message: str) -> CallbackOutcome:
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></main></body></html>"
    )
    return CallbackOutcome(page=body, status=200)


class Callbacks:
    def __init__(self, ctx: ConsentContext, connects: ConnectFlow | None = None) -> None:
        self.ctx = ctx
        self.tests = TestFlow(ctx)
        self.connects = connects or ConnectFlow(ctx)

    def oauth(
        self, provider: str, params: dict[str, str], cookie_header: str = ""
    ) -> CallbackOutcome:
        """``GET /oauth/{provider}/callback``; ``cookie_header`` is the request's ``Cookie``."""
        ctx = self.ctx
        try:
            pending = ctx.states.consume(params.get("state", "") or "missing")
            integration = ctx.integrations.get(pending.org, pending.integration_id)
        except BadRequest as exc:
            log.info("oauth callback refused: %s", exc.code)
            return _page(STATE_ERRORS.get(exc.code, "sign_in_state_invalid"))
        except NotFound:
            return _page("integration_not_enabled")
        if integration.provider != provider:
            return _page("sign_in_state_invalid")
        # return_to was checked when the flow began; check again in case settings changed.
        return_to = pending.return_to
        if return_to is not None:
            try:
                check_return_to(return_to, ctx.settings.allowed_return_urls)
            except BadRequest:
                return_to = None

        if pending.purpose == "test":
            run = self.tests.finish(integration, pending, params)
            if return_to:
                return CallbackOutcome(
                    location=with_params(
                        return_to, test=run.status.value, integration=integration.id
                    )
                )
            if run.status.value == "passed":
                return _success_page(
                    "Test passed", "The integration can now be enabled for all users."
                )
            first = run.issues[0]
            return _page(
                first.code,
                audience="admin",
                status=200,
                context=first.details,
                settings=ctx.settings,
            )

        if pending.purpose == "connect":
            outcome = self._connect(integration, pending, params, return_to, cookie_header)
            if pending.browser is None:
                return outcome
            secure = ctx.settings.public_base_url.startswith("https://")
            return replace(outcome, set_cookies=(clear_cookie(pending.browser, secure=secure),))

        return _page("sign_in_state_invalid")

    def _connect(
        self,
        integration: Integration,
        pending: PendingAuth,
        params: dict[str, str],
        return_to: str | None,
        cookie_header: str,
    ) -> CallbackOutcome:
        ctx = self.ctx
        try:
            if not pending.from_this_browser(
                nonce_from(cookie_header, pending.browser) if pending.browser else None
            ):
                # The sign-in was started in another browser: someone else's link.
                raise ConnectionFailed("sign_in_browser_mismatch")
            self.connects.finish(integration, pending, params)
        except ConnectionFailed as failed:
            # The admin sees it in the people view and in health (code and time only).
            ctx.failed_attempts.record(
                integration.org, integration.id, pending.subject, failed.code, ctx.clock.now()
            )
            if return_to:
                return CallbackOutcome(
                    location=with_params(return_to, calendar="error", code=failed.code)
                )
            return _page(failed.code, context=failed.details, settings=ctx.settings)
        if return_to:
            return CallbackOutcome(location=with_params(return_to, calendar="connected"))
        return _success_page("Calendar connected", "You can close this window.")

    def admin_consent_url(
        self, org: str, integration_id: str, admin: str, return_to: str | None
    ) -> str:
        """``GET /orgs/{org}/integrations/{id}/admin-consent-url`` (Microsoft only)."""
        ctx = self.ctx
        if return_to is not None:
            check_return_to(return_to, ctx.settings.allowed_return_urls)
        integration = ctx.integrations.get(org, integration_id)
        if integration.provider is not Provider.MICROSOFT:
            raise BadRequest(
                "a direct admin-consent link exists for Microsoft 365 only; a Google Workspace "
                "admin trusts the app in the Admin console instead",
                code="admin_consent_not_supported",
            )
        state = ctx.states.issue(
            purpose="admin_consent",
            org=org,
            subject=admin,
            integration_id=integration.id,
            return_to=return_to,
            flow={},
        )
        return ctx.kit.admin_consent_url(
            tenant=integration.tenant, redirect_uri=ctx.admin_consent_callback_url(), state=state
        )

    def admin_consent(self, params: dict[str, str]) -> CallbackOutcome:
        """``GET /oauth/microsoft/admin-consent``: record tenant-wide consent."""
        ctx = self.ctx
        try:
            pending = ctx.states.consume(
                params.get("state", "") or "missing", purpose="admin_consent"
            )
            integration = ctx.integrations.get(pending.org, pending.integration_id)
        except BadRequest as exc:
            return _page(STATE_ERRORS.get(exc.code, "sign_in_state_invalid"), audience="admin")
        except NotFound:
            return _page("integration_not_enabled", audience="admin")
        try:
            tenant = ctx.kit.parse_admin_consent(params)
        except ConsentFailed as exc:
            issue = consent_issue(Provider.MICROSOFT, exc)
            if pending.return_to:
                return CallbackOutcome(
                    location=with_params(pending.return_to, admin_consent="error", code=issue.code)
                )
            return _page(issue.code, audience="admin", context=issue.details, settings=ctx.settings)
        ctx.integrations.record(
            integration,
            HistoryEntry(ctx.clock.now(), pending.subject, "admin_consent_granted", tenant),
        )
        if pending.return_to:
            return CallbackOutcome(
                location=with_params(pending.return_to, admin_consent="granted", tenant=tenant)
            )
        return _success_page(
            "Admin consent granted",
            "Users of your organisation can now connect their calendars without a consent screen.",
        )
