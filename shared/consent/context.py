"""Everything the consent flows need, in one object the HTTP layer builds per process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.clock import Clock
from shared.consent.attempts import FailedAttempts
from shared.consent.connections import ConnectionRepository
from shared.consent.oauth_state import OAuthStates
from shared.consent.testruns import TestRunRepository, test_secret_name
from shared.consent.tokens import StoredTokens
from shared.errors import Conflict
from shared.integrations.lifecycle import IntegrationLifecycle
from shared.integrations.model import Integration, Kind, Provider, Status
from shared.integrations.repository import IntegrationRepository
from shared.notifications.outbox import Outbox
from shared.providers.kit import ProviderKit
from shared.rooms.pairings import RoomPairings
from shared.secrets.store import SecretStore
from shared.settings import Settings
from shared.storage.tables import TableStore


def _prompt(provider: Provider, select_account: bool) -> str | None:
    """The OAuth ``prompt``. Google issues a refresh token only with ``consent`` and takes a
    space-delimited list ("select_account consent", per Google's OAuth 2.0 web server guide);
    Microsoft's ``select_account`` shows the account picker without a consent prompt, so
    tenant-wide admin consent still spares people the consent screen."""
    if provider is Provider.GOOGLE:
        return "select_account consent" if select_account else "consent"
    return "select_account" if select_account else None


@dataclass
class ConsentContext:
    settings: Settings
    tables: TableStore
    secrets: SecretStore
    clock: Clock
    kit: ProviderKit

    def __post_init__(self) -> None:
        self.integrations = IntegrationRepository(self.tables)
        self.rooms = RoomPairings(self.tables)
        self.lifecycle = IntegrationLifecycle(self.integrations, self.rooms, self.clock)
        self.connections = ConnectionRepository(self.tables, self.secrets)
        self.failed_attempts = FailedAttempts(self.tables)
        self.testruns = TestRunRepository(self.tables)
        self.states = OAuthStates(self.tables, self.secrets, self.clock)
        self.outbox = Outbox(self.tables, self.clock)

    def callback_url(self, provider: str) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/api/oauth/{provider}/callback"

    def admin_consent_callback_url(self) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/api/oauth/microsoft/admin-consent"

    def webhook_url(self, provider: str) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/api/webhooks/{provider}"

    def start_sign_in(
        self,
        integration: Integration,
        *,
        purpose: str,
        subject: str,
        return_to: str | None,
        scopes: Sequence[str],
        login_hint: str | None = None,
        select_account: bool = False,
        browser: str | None = None,
    ) -> str:
        """Issue a signed state, ask the provider for its authorization URL with it, and keep
        the provider's flow (PKCE verifier) for the callback. Returns the URL to send to.

        ``select_account`` makes the provider show its account picker even with a session, so
        the person chooses the account deliberately; ``browser`` binds the state to the browser
        holding that nonce (see :mod:`shared.consent.browser_binding`).
        """
        state = self.states.issue(
            purpose=purpose,
            org=integration.org,
            subject=subject,
            integration_id=integration.id,
            return_to=return_to,
            browser=browser,
        )
        start = self.kit.delegated(integration.provider).begin(
            redirect_uri=self.callback_url(integration.provider),
            state=state,
            scopes=scopes,
            login_hint=login_hint,
            prompt=_prompt(integration.provider, select_account),
        )
        self.states.attach_flow(state, start.flow)
        return start.url

    def admin_grant_tokens(self, integration: Integration) -> StoredTokens:
        """The token source of the enabling admin's test-flow grant (preview, room directory)."""
        return StoredTokens(
            self.kit.delegated(integration.provider),
            self.secrets,
            test_secret_name(integration.id),
            self.clock,
        )

    def active_workspace(self, org: str) -> Integration:
        """The organisation's enabled workspace integration; 409 when there is none."""
        for integration in self.integrations.for_org(org):
            if integration.kind is Kind.WORKSPACE and integration.status is Status.ENABLED:
                return integration
        raise Conflict(
            "calendar connections are not enabled for this organisation",
            code="no_active_integration",
        )
