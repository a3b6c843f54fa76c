"""The seams a cloud suite plugs into for service (app-only) integrations.

A provider implements :class:`ServiceProvider` and registers it in
:mod:`shared.service.registry`. Everything else (the setup check, matching, the people view,
sync, rotation, deletion) is provider-neutral and works through these Protocols and the
existing :class:`~shared.providers.base.CalendarClient`.

Errors: implementations raise :mod:`shared.errors` provider exceptions (``ProviderDenied``,
``ProviderNotFound``, ``Throttled``, ``ProviderUnavailable``, ...), translated once at the
adapter, and :meth:`ServiceProvider.issue_code` turns one into a diagnostics catalogue code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from shared.errors import ProviderError
from shared.providers.base import CalendarClient, TokenSource
from shared.service.model import Match, ParsedCredentials, ServiceConfig


class AppCredential(Protocol):
    """App-only tokens of one service integration.

    Microsoft: client credentials (secret or certificate assertion) for the customer's tenant;
    the same token reaches every mailbox the app may reach, so ``mailbox`` is ignored. Google:
    a service-account JWT with ``sub`` = ``mailbox`` (domain-wide delegation acts as each
    person); ``mailbox=None`` acts as the configured directory administrator.
    """

    def token_source(self, mailbox: str | None = None) -> TokenSource:
        """Bearer tokens for calls on ``mailbox`` (``force_refresh=True`` after a 401)."""

    def check(self) -> None:
        """Obtain a token now (the setup check's first step). Raises ``ProviderDenied`` with
        the identity platform's code (``AADSTS7000215``, ``unauthorized_client``, ...) when the
        credential is refused, ``ProviderUnavailable``/``Throttled`` on faults."""


class DirectoryMatcher(Protocol):
    """Matches host-app people to directory users by email.

    ``requests`` counts the provider requests made so far (the benchmark reports it).
    """

    requests: int

    def probe(self) -> None:
        """One directory read (the setup check's second step); ``ProviderDenied`` when the
        directory permission is missing (Microsoft: no admin consent for ``User.Read.All``)."""

    def match(self, emails: Sequence[str]) -> dict[str, Match]:
        """The outcome for each (lower-cased) address, with the fewest requests for the size.

        Rules every implementation keeps: compare lower-cased; the provider's precedence of
        properties (Microsoft: ``mail``, then ``userPrincipalName``, then ``proxyAddresses``
        ``smtp:``; Google: primary email, then aliases); two users at the winning precedence
        are ``ambiguous`` (never pick one); disabled/suspended accounts are ``disabled``,
        guests ``guest``; a matched user whose mailbox cannot be reached is ``no_mailbox`` or
        ``outside_scope``. Every given address has an entry.
        """


class ServiceProvider(Protocol):
    """One cloud suite's service-integration support."""

    provider: str  # "microsoft" | "google"
    type_label: str  # the list's "Type": "Microsoft Exchange", "Google"

    def parse(
        self, credentials: Mapping[str, Any], current: ServiceConfig | None = None
    ) -> ParsedCredentials:
        """Validate what the admin entered; ``BadRequest``/``ValidationFailed`` (never echoing
        a secret) when it cannot work. ``current`` is the stored config when rotating: fields
        the admin leaves out (tenant, client id) are kept from it."""

    def credential(self, config: ServiceConfig, secret: str) -> AppCredential:
        """The app-only credential from the stored config and secret (cheap; no I/O)."""

    def directory(self, config: ServiceConfig, credential: AppCredential) -> DirectoryMatcher:
        """A matcher over the customer's directory."""

    def calendar(
        self, config: ServiceConfig, credential: AppCredential, mailbox: str
    ) -> CalendarClient:
        """One person's calendar, addressed by their immutable directory id (``mailbox``)."""

    def issue_code(self, exc: ProviderError, check: str, config: ServiceConfig, secret: str) -> str:
        """The diagnostics catalogue code for ``exc`` met during ``check`` (``token``,
        ``directory``, ``mailbox``, ``subscription``, ``rooms``, ``sync``). ``secret`` lets the
        provider recognise a typical mistake (a secret's id pasted as its value)."""

    def credential_invalid(self, exc: ProviderError) -> bool:
        """``exc`` means the stored credential itself no longer works (wrong, expired,
        revoked): the host app is told ``credentials_invalid``."""

    def issue_details(self, config: ServiceConfig) -> dict[str, str]:
        """Placeholders for the catalogue's texts (client id, tenant, scopes to paste, ...)."""
