"""Value objects of service integrations (provider-neutral)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MatchReason(StrEnum):
    """Why a host-app person has no synced calendar under a service integration."""

    NOT_FOUND = "not_found"  # no directory user has this address
    AMBIGUOUS = "ambiguous"  # two or more users have it at the same precedence: never guess
    NO_MAILBOX = "no_mailbox"  # the user exists but has no mailbox the API can reach
    OUTSIDE_SCOPE = "outside_scope"  # the app's mailbox scope policy excludes this mailbox
    DISABLED = "disabled"  # the account is disabled (Entra) or suspended (Google)
    GUEST = "guest"  # a guest account: its mailbox lives in another organisation


@dataclass(frozen=True)
class DirectoryUser:
    """A directory user as matching needs it. ``id`` is immutable (Entra object id, Google
    user id): mappings keep it, since addresses change."""

    id: str
    email: str
    display_name: str = ""


@dataclass(frozen=True)
class Match:
    """The outcome for one email: ``user`` or ``reason`` (exactly one is set)."""

    user: DirectoryUser | None = None
    reason: MatchReason | None = None
    # Which property matched (mail, userPrincipalName, proxyAddresses, primaryEmail, aliases),
    # or the provider's error code behind a reason (MailboxNotEnabledForRESTAPI, ...).
    detail: str = ""

    def __post_init__(self) -> None:
        if (self.user is None) == (self.reason is None):
            raise ValueError("a match has either a user or a reason")

    @staticmethod
    def found(user: DirectoryUser, detail: str = "") -> Match:
        return Match(user=user, detail=detail)

    @staticmethod
    def unmatched(reason: MatchReason, detail: str = "") -> Match:
        return Match(reason=reason, detail=detail)


@dataclass
class ServiceConfig:
    """The non-secret settings of one service integration (a Table row).

    ``settings`` holds what the provider needs besides the secret (Microsoft: ``tenant_id``,
    ``client_id``; Google: ``client_email``, ``admin_email``, ...). ``credential_type`` names
    what is in the secret store (``client_secret``, ``certificate``, ``service_account_key``);
    ``credential_expires_on`` is its expiry when known. ``probe_mailbox`` is the mailbox the
    setup check reads and writes (the article's "User ID"); it grants nothing.
    ``credential_version`` grows with every rotation, so cached credentials are rebuilt.
    """

    org: str
    integration_id: str
    provider: str
    credential_type: str
    settings: dict[str, str] = field(default_factory=dict)
    credential_expires_on: datetime | None = None
    probe_mailbox: str | None = None
    credential_version: int = 1
    credential_set_at: datetime | None = None
    # The last credential fault seen by sync (a diagnostics code), cleared by a passing check.
    credential_error: str | None = None
    # Expiry warnings already sent (30, 7, 1 days): each is told once per credential.
    expiry_warned: str = ""
    # When everyone was last matched (the daily re-match runs when this is a day old).
    matched_at: datetime | None = None
    etag: str | None = None


@dataclass(frozen=True)
class ParsedCredentials:
    """What a provider made of the credentials an admin entered: the row's part and the secret
    (a JSON string for the secret store, never logged or stored in a row)."""

    credential_type: str
    settings: dict[str, str]
    secret: str
    expires_on: datetime | None = None
    probe_mailbox: str | None = None
