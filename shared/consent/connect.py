"""A user connects their own calendar to the organisation's enabled workspace integration.

``start`` answers with where to send the browser: straight back to ``return_to`` when the user
already has a working connection (seed: "the user is redirected back to the app" needs nothing),
otherwise to the provider's consent. When the cloud-suite admin consented for everyone, the
provider itself skips its consent screen and comes straight back with a code.

``finish`` (the OAuth callback) redeems the code, refuses an account from another tenant or
Workspace domain than the one the integration was tested with, refuses an account that is not
the person's own when the host app told us the person's email (``account_mismatch``), checks
the granted scopes, and stores the tokens (secret store) and the connection row (no token in
it). The sign-in asks the provider to show its account picker (``prompt=select_account``) with
the person's address as ``login_hint``, and the callback must come from the browser that
started it (:mod:`shared.consent.browser_binding`).

A revoked or expired refresh token turns the connection to ``needs_reconnect`` and puts a
``reconnect_needed`` notification in the host app's feed (:func:`mark_needs_reconnect`);
connecting again restores it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from shared.consent.connections import Connection, ConnectionStatus
from shared.consent.context import ConsentContext
from shared.consent.oauth_state import PendingAuth
from shared.consent.return_to import check_return_to, with_params
from shared.consent.scopes import (
    GOOGLE_REQUIRED,
    GOOGLE_USER,
    MICROSOFT_DELEGATED,
    MICROSOFT_REQUIRED,
    normalise,
)
from shared.consent.testflow import consent_issue
from shared.consent.tokens import StoredTokens
from shared.errors import ConsentFailed, ProviderError, ReconnectNeeded
from shared.integrations.model import Integration, Provider, Status
from shared.providers.base import Grant
from shared.sync.people import People

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectStart:
    """Where to send the browser, and whether the provider is involved at all."""

    url: str
    already_connected: bool


class ConnectionFailed(Exception):
    """The callback could not connect; ``code`` is a diagnostics catalogue code."""

    def __init__(self, code: str, details: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.details = details or {}


def user_scopes(provider: Provider) -> tuple[str, ...]:
    return MICROSOFT_DELEGATED if provider is Provider.MICROSOFT else GOOGLE_USER


def mark_needs_reconnect(ctx: ConsentContext, connection: Connection, exc: ReconnectNeeded) -> None:
    """Record that the user must reconnect, and tell the host app (once per episode)."""
    fresh = ctx.connections.get(connection.org, connection.integration_id, connection.subject)
    if fresh is None or fresh.status is ConnectionStatus.NEEDS_RECONNECT:
        return
    # Tell first, then record: a crash between the two repeats the append (same episode key:
    # the connection's last change, which the failed save did not move), never loses it.
    episode = f"{connection.integration_id}|{connection.subject}|{fresh.updated_at.isoformat()}"
    ctx.outbox.append(
        connection.org,
        "reconnect_needed",
        {
            "subject": connection.subject,
            "integration_id": connection.integration_id,
            "provider_code": exc.provider_code or exc.code,
        },
        dedupe_key=episode,
    )
    fresh.status = ConnectionStatus.NEEDS_RECONNECT
    fresh.last_error = exc.provider_code or exc.code
    fresh.updated_at = ctx.clock.now()
    ctx.connections.save(fresh)


def connection_tokens(
    ctx: ConsentContext, integration: Integration, connection: Connection
) -> StoredTokens:
    """The token source of a connection; a revoked refresh token marks it for reconnecting."""
    return StoredTokens(
        ctx.kit.delegated(integration.provider),
        ctx.secrets,
        connection.secret_name,
        ctx.clock,
        on_reconnect=lambda exc: mark_needs_reconnect(ctx, connection, exc),
    )


DisconnectHook = Callable[[Integration, Connection], None]
ConnectHook = Callable[[Integration, Connection], None]


class ConnectFlow:
    """Connect, show and end a user's calendar connection.

    ``before_disconnect`` hooks run while the connection's tokens still exist (the sync engine
    stops the provider subscription and forgets the calendar's sync state there).
    """

    def __init__(
        self,
        ctx: ConsentContext,
        before_disconnect: list[DisconnectHook] | None = None,
        after_connect: list[ConnectHook] | None = None,
    ):
        self.ctx = ctx
        self.before_disconnect = list(before_disconnect or [])
        self.after_connect = list(after_connect or [])

    def start(
        self, org: str, subject: str, return_to: str, browser: str | None = None
    ) -> ConnectStart:
        """Where to send the person; ``browser`` is the nonce of the binding cookie."""
        ctx = self.ctx
        check_return_to(return_to, ctx.settings.allowed_return_urls)
        integration = ctx.active_workspace(org)
        existing = ctx.connections.get(org, integration.id, subject)
        if existing is not None and existing.status is ConnectionStatus.CONNECTED:
            try:
                # Redeem the refresh token: a cached access token would hide a revocation.
                connection_tokens(ctx, integration, existing)(force_refresh=True)
                return ConnectStart(self._back(return_to, "connected"), already_connected=True)
            except ReconnectNeeded:
                log.info("stored connection no longer works; sending the user to consent")
            # Other provider errors propagate: when the provider is down the user is told so,
            # rather than being sent to a consent screen that cannot help.
        known = People(ctx.tables).get(org, subject)
        url = ctx.start_sign_in(
            integration,
            purpose="connect",
            subject=subject,
            return_to=return_to,
            scopes=user_scopes(integration.provider),
            login_hint=(known.email if known and known.email else None)
            or (existing.account if existing else None),
            select_account=True,
            browser=browser,
        )
        return ConnectStart(url, already_connected=False)

    @staticmethod
    def _back(return_to: str, outcome: str) -> str:
        return with_params(return_to, calendar=outcome)

    def finish(
        self, integration: Integration, pending: PendingAuth, params: dict[str, str]
    ) -> Connection:
        """Redeem the callback; ``ConnectionFailed`` (with a catalogue code) when it cannot."""
        ctx = self.ctx
        current = ctx.integrations.get(integration.org, integration.id)
        if current.status is not Status.ENABLED:
            raise ConnectionFailed("integration_not_enabled")
        try:
            grant = ctx.kit.delegated(integration.provider).complete(pending.flow, params)
        except ConsentFailed as exc:
            issue = consent_issue(integration.provider, exc)
            raise ConnectionFailed(issue.code, issue.details) from exc
        if current.tenant and grant.tenant != current.tenant:
            raise ConnectionFailed(
                "wrong_tenant",
                {"tenant": grant.tenant or "personal account", "expected": current.tenant},
            )
        self._check_account(integration.org, pending.subject, grant)
        required = (
            MICROSOFT_REQUIRED if integration.provider is Provider.MICROSOFT else GOOGLE_REQUIRED
        )
        missing = sorted(required - normalise(set(grant.scopes)))
        if missing:
            raise ConnectionFailed("missing_scope", {"scope": " ".join(missing)})
        now = ctx.clock.now()
        previous = ctx.connections.get(integration.org, integration.id, pending.subject)
        connection = Connection(
            org=integration.org,
            integration_id=integration.id,
            subject=pending.subject,
            status=ConnectionStatus.CONNECTED,
            account=grant.account,
            user_id=grant.user_id,
            tenant=grant.tenant,
            scopes=grant.scopes,
            connected_at=previous.connected_at if previous else now,
            updated_at=now,
        )
        saved = ctx.connections.save(connection, token_blob=grant.token_blob)
        ctx.failed_attempts.clear(integration.org, integration.id, pending.subject)
        for hook in self.after_connect:
            # The first sync (subscription, waiting pushes, pull) starts now, not at the next
            # cycle; a failing hook must not undo the connection the user just made.
            try:
                hook(current, saved)
            except Exception:
                log.exception("a hook after connecting %s failed", pending.subject)
        return saved

    def _check_account(self, org: str, subject: str, grant: Grant) -> None:
        """The account that consented must be the person's own when the host app gave the
        person's email (``PUT /orgs/{org}/people``): compared lower-cased with every address
        the provider vouches for (for Microsoft the UPN too). Unknown people are not refused:
        there is nothing to compare with."""
        person = People(self.ctx.tables).get(org, subject)
        expected = (person.email if person else "").strip().lower()
        if not expected:
            return
        vouched = {a.lower() for a in grant.addresses} | {grant.account.strip().lower()}
        if expected not in vouched - {""}:
            log.warning("connect refused: the consenting account is not the person's own")
            raise ConnectionFailed("account_mismatch", {"user": grant.account})

    def status(self, org: str, subject: str) -> tuple[Integration, Connection | None]:
        integration = self.ctx.active_workspace(org)
        return integration, self.ctx.connections.get(org, integration.id, subject)

    def disconnect(self, org: str, subject: str) -> bool:
        """End the user's connection: revoke where the provider supports it, erase the tokens
        and the row. Returns ``False`` when there was no connection."""
        ctx = self.ctx
        removed = False
        for integration in ctx.integrations.for_org(org):
            connection = ctx.connections.get(org, integration.id, subject)
            if connection is None:
                continue
            for hook in self.before_disconnect:
                hook(integration, connection)
            blob = ctx.connections.token_blob(connection)
            if blob is not None:
                try:
                    ctx.kit.delegated(integration.provider).revoke(blob)
                except ProviderError as exc:
                    log.warning("revoking at the provider failed (%s); erasing locally", exc.code)
            ctx.connections.delete(connection)
            removed = True
        return removed
