"""Google Workspace service integrations: a service account with domain-wide delegation.

Implements :class:`shared.service.ports.ServiceProvider`. The admin enters the service
account's JSON key and the primary email of a Workspace administrator; a super admin has
authorised the key's numeric client ID for exactly :data:`SERVICE_SCOPES` (Admin console >
Security > Access and data control > API controls > Manage Domain Wide Delegation).

Who the service acts as (https://developers.google.com/identity/protocols/oauth2/service-account):

* directory reads (matching, the setup check's directory step) and rooms act as ``admin_email``:
  "the service account must impersonate an administrator of the domain";
* calendar calls and ``events.watch``/``channels.stop`` act as each person (``sub`` = the
  person's primary email); a channel belongs to the user who opened it.

People are addressed by their immutable Google user id (what matching stores). The JWT's ``sub``
must be the user's *primary* email (aliases are not documented as accepted), so an id is turned
into the current primary email by matching (remembered per credential) or, in a process that did
not match, by one users.get acting as the administrator.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.errors import ProviderError, ProviderNotFound, ValidationFailed
from shared.providers.base import CalendarClient, RoomInfo, TokenSource
from shared.providers.google.calendar import GoogleCalendarClient
from shared.providers.google.matching import GoogleMatch, match_addresses
from shared.providers.google.service_account import (
    CALENDAR_EVENTS_SCOPE,
    DIRECTORY_USERS_SCOPE,
    ROOMS_SCOPE,
    SERVICE_SCOPES,
    GoogleServiceAccountAuth,
    ServiceAccountKey,
)
from shared.providers.google.service_credentials import GoogleServiceCredentials
from shared.providers.google.users import GoogleUserDirectory
from shared.service.model import (
    DirectoryUser,
    Match,
    MatchReason,
    ParsedCredentials,
    ServiceConfig,
)
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.service.ports import AppCredential, DirectoryMatcher, ServiceProvider

PROVIDER = "google"
CREDENTIAL_TYPE = "service_account_key"
# Google's texts (service_account module table) that mean the key itself no longer works.
_KEY_REFUSED = ("jwt", "no valid verifier", "account not found", "invalid_client")
_UNKNOWN_SUBJECT = ("invalid email or user id", "not a valid email")
_DELETED_SUBJECT = ("account has been deleted",)
_SUBJECT_REFUSED = (*_UNKNOWN_SUBJECT, *_DELETED_SUBJECT)


class GoogleCredential:
    """Implements :class:`shared.service.ports.AppCredential` for one service-account key.

    Token sources are kept per (subject, scopes): google-auth caches each token until shortly
    before it expires. ``subjects`` remembers the primary email of each matched user id.
    """

    def __init__(self, settings: Settings, key: ServiceAccountKey, admin_email: str) -> None:
        self._settings = settings
        self.key = key
        self.admin_email = admin_email
        self._sources: dict[tuple[str, tuple[str, ...]], GoogleServiceAccountAuth] = {}
        self.subjects: dict[str, str] = {}
        self._lock = threading.Lock()

    def acting_as(self, subject: str, scopes: Sequence[str]) -> GoogleServiceAccountAuth:
        """Tokens for ``subject`` (a primary email) with exactly ``scopes``."""
        wanted = (subject.lower(), tuple(scopes))
        with self._lock:
            found = self._sources.get(wanted)
            if found is None:
                found = GoogleServiceAccountAuth(
                    self._settings, self.key.info, wanted[0], scopes=wanted[1]
                )
                self._sources[wanted] = found
            return found

    def directory_tokens(self) -> TokenSource:
        return self.acting_as(self.admin_email, [DIRECTORY_USERS_SCOPE])

    def rooms_tokens(self) -> TokenSource:
        return self.acting_as(self.admin_email, [ROOMS_SCOPE])

    def subject_of(self, mailbox: str) -> str:
        """The primary email to act as for ``mailbox`` (an email, or a Google user id)."""
        if "@" in mailbox:
            return mailbox.lower()
        with self._lock:
            known = self.subjects.get(mailbox)
        if known is not None:
            return known
        with GoogleUserDirectory(self._settings, self.directory_tokens()) as users:
            entry = users.find(mailbox)
        if entry is None:
            raise ProviderNotFound(
                f"no Google Workspace user has the id {mailbox}",
                provider=PROVIDER,
                provider_code="notFound",
            )
        self.remember(entry.id, entry.primary_email)
        return entry.primary_email

    def remember(self, user_id: str, primary_email: str) -> None:
        with self._lock:
            self.subjects[user_id] = primary_email

    def token_source(self, mailbox: str | None = None) -> TokenSource:
        """Calendar tokens acting as ``mailbox``'s user; ``None``: the directory administrator.
        The subject is resolved on first use (no I/O here)."""
        if mailbox is None:
            return self.directory_tokens()
        return _PersonTokens(self, mailbox)

    def check(self) -> None:
        """A token for the administrator with the calendar and directory scopes together: one
        request proves the key and the whole required delegation (``unauthorized_client`` when
        a single scope is missing)."""
        self.acting_as(self.admin_email, [CALENDAR_EVENTS_SCOPE, DIRECTORY_USERS_SCOPE])(
            force_refresh=True
        )


class _PersonTokens:
    """Calendar-scope tokens for one person, resolving the Google user id lazily."""

    def __init__(self, credential: GoogleCredential, mailbox: str) -> None:
        self._credential = credential
        self._mailbox = mailbox
        self._source: GoogleServiceAccountAuth | None = None

    def __call__(self, *, force_refresh: bool = False) -> str:
        if self._source is None:
            subject = self._credential.subject_of(self._mailbox)
            self._source = self._credential.acting_as(subject, [CALENDAR_EVENTS_SCOPE])
        return self._source(force_refresh=force_refresh)


class GoogleDirectoryMatcher:
    """Implements :class:`shared.service.ports.DirectoryMatcher` over the Admin SDK."""

    def __init__(self, settings: Settings, credential: GoogleCredential) -> None:
        self._settings = settings
        self._credential = credential
        self.requests = 0

    def probe(self) -> None:
        with GoogleUserDirectory(self._settings, self._credential.directory_tokens()) as users:
            try:
                users.page(size=1)
            finally:
                self.requests += users.requests

    def match(self, emails: Sequence[str]) -> dict[str, Match]:
        with GoogleUserDirectory(self._settings, self._credential.directory_tokens()) as users:
            try:
                found = match_addresses(users, emails)
            finally:
                self.requests += users.requests
        return {address: self._outcome(m) for address, m in found.items()}

    def _outcome(self, found: GoogleMatch) -> Match:
        if found.reason == "ambiguous":
            return Match.unmatched(MatchReason.AMBIGUOUS, found.via)
        if found.reason == "suspended":
            return Match.unmatched(MatchReason.DISABLED, "suspended")
        if found.entry is None:
            return Match.unmatched(MatchReason.NOT_FOUND)
        entry = found.entry
        self._credential.remember(entry.id, entry.primary_email)
        user = DirectoryUser(entry.id, entry.primary_email, entry.display_name)
        return Match.found(user, found.via)


class GoogleServiceCalendar(GoogleCalendarClient):
    """A person's calendar (acting as them); rooms are listed acting as the administrator."""

    def __init__(self, settings: Settings, tokens: TokenSource, rooms_tokens: TokenSource) -> None:
        super().__init__(settings, tokens)
        self._rooms_tokens = rooms_tokens

    def rooms(self) -> list[RoomInfo]:
        with closing(GoogleCalendarClient(self._settings, self._rooms_tokens)) as admin:
            return admin.rooms()


class GoogleServiceProvider:
    """Implements :class:`shared.service.ports.ServiceProvider` for Google Workspace."""

    provider = PROVIDER
    type_label = "Google"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._credentials: dict[tuple[str, int], GoogleCredential] = {}
        self._lock = threading.Lock()

    # --- credentials ------------------------------------------------------------------------

    def parse(
        self, credentials: Mapping[str, Any], current: ServiceConfig | None = None
    ) -> ParsedCredentials:
        """The key (validated, never echoed) and ``admin_email``; on rotation a missing
        ``admin_email`` is kept, and a key of another service account is accepted (its client
        id is then the one to authorise)."""
        try:
            body = GoogleServiceCredentials.model_validate(dict(credentials))
        except ValidationError as exc:
            raise ValidationFailed(
                [
                    {"field": ".".join(["credentials", *map(str, e["loc"])]), "message": e["msg"]}
                    for e in exc.errors()
                ]
            ) from exc
        if body.service_account_key is None:
            raise ValidationFailed(
                [{"field": "credentials.service_account_key", "message": "is required"}]
            )
        key = ServiceAccountKey.parse(
            body.service_account_key.get_secret_value(),
            field_name="credentials.service_account_key",
        )
        admin = body.admin_email or (current.settings.get("admin_email") if current else None)
        if not admin:
            raise ValidationFailed([{"field": "credentials.admin_email", "message": "is required"}])
        probe = body.user_id or (current.probe_mailbox if current else None)
        settings = {
            "client_id": key.client_id,
            "client_email": key.client_email,
            "project_id": key.project_id,
            "private_key_id": key.private_key_id,
            "admin_email": admin,
            "domain": admin.rsplit("@", 1)[1],
        }
        return ParsedCredentials(CREDENTIAL_TYPE, settings, key.to_json(), None, probe)

    def credential(self, config: ServiceConfig, secret: str) -> AppCredential:
        return self._credential(config, secret)

    def _credential(self, config: ServiceConfig, secret: str) -> GoogleCredential:
        wanted = (config.integration_id, config.credential_version)
        with self._lock:
            found = self._credentials.get(wanted)
            if found is None:
                found = GoogleCredential(
                    self._settings,
                    ServiceAccountKey.parse(json.loads(secret)),
                    config.settings["admin_email"],
                )
                for old in [k for k in self._credentials if k[0] == config.integration_id]:
                    del self._credentials[old]
                self._credentials[wanted] = found
            return found

    # --- directory and calendars ------------------------------------------------------------

    def directory(self, config: ServiceConfig, credential: AppCredential) -> DirectoryMatcher:
        return GoogleDirectoryMatcher(self._settings, _google(credential))

    def calendar(
        self, config: ServiceConfig, credential: AppCredential, mailbox: str
    ) -> CalendarClient:
        rooms: TokenSource
        if isinstance(credential, GoogleCredential):
            rooms = credential.rooms_tokens()
        else:
            rooms = credential.token_source(None)
        return GoogleServiceCalendar(self._settings, credential.token_source(mailbox), rooms)

    # --- diagnostics ------------------------------------------------------------------------

    def issue_code(self, exc: ProviderError, check: str, config: ServiceConfig, secret: str) -> str:
        """Catalogue codes by Google's error and the step that met it."""
        del secret
        code = exc.provider_code or ""
        text = str(exc.detail).lower()
        # Rooms and the channel probe only degrade, whatever refused them (the room scope is
        # optional in the delegation list).
        if check == "rooms":
            return "room_listing_not_permitted"
        if check == "subscription":
            return "webhook_unreachable"
        if code == "unauthorized_client":
            return "google.unauthorized_client"
        if code == "invalid_grant":
            if check == "mailbox" and any(k in text for k in _SUBJECT_REFUSED):
                return "google.probe_user_unavailable"
            if any(k in text for k in _DELETED_SUBJECT):
                return "google.dwd_account_deleted"
            if any(k in text for k in _UNKNOWN_SUBJECT):
                return "google.dwd_unknown_user"
            return "google.service_account_rejected"
        if check == "directory" and code in ("forbidden", "insufficientPermissions"):
            return "google.directory_not_admin"
        if check == "mailbox" and code in ("forbidden", "insufficientPermissions"):
            return "calendar_write_not_permitted"
        return "service.provider_error"

    def credential_invalid(self, exc: ProviderError) -> bool:
        code = exc.provider_code or ""
        text = str(exc.detail).lower()
        if code == "unauthorized_client":
            return True
        return code in ("invalid_grant", "invalid_client") and any(k in text for k in _KEY_REFUSED)

    def issue_details(self, config: ServiceConfig) -> dict[str, str]:
        return {
            "client_id": config.settings.get("client_id", ""),
            "tenant": config.settings.get("domain", ""),
            "scope": ",".join(SERVICE_SCOPES),
            "user": config.settings.get("admin_email", ""),
        }


def _google(credential: AppCredential) -> GoogleCredential:
    if not isinstance(credential, GoogleCredential):
        raise TypeError("a Google service integration needs its GoogleCredential")
    return credential


if TYPE_CHECKING:  # mypy proves the class satisfies the protocol the core programs against.

    def _conforms(settings: Settings) -> ServiceProvider:
        return GoogleServiceProvider(settings)
