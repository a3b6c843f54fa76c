"""Service-account tokens with domain-wide delegation, for service (app-only) integrations.

A Workspace super admin grants the service account's numeric client id an exact list of scopes
(Admin console > Security > Access and data control > API controls > Manage Domain Wide
Delegation); the service then signs a JWT naming the person to act as in ``sub`` and exchanges it
at the token endpoint with the ``urn:ietf:params:oauth:grant-type:jwt-bearer`` grant
(https://developers.google.com/identity/protocols/oauth2/service-account#delegatingauthority).
Each token request asks only for the scopes of the call it serves: Google refuses the whole
request when a single requested scope is not delegated.

Token errors become :class:`~shared.errors.ProviderDenied` with Google's ``error`` as
``provider_code`` and its ``error_description`` in the detail (texts as Google's admin tooling
classifies them, GAM-team/GAM ``OAUTH2_TOKEN_ERRORS``):

==============================================================  =================================
``unauthorized_client`` "Client is unauthorized to retrieve     the client id is not delegated,
access tokens using this method, or client not authorized for   or the scope list differs
any of the scopes requested."
``invalid_grant`` "Invalid email or User ID"                    ``sub`` is no (active) user
``invalid_grant`` "The account has been deleted"                ``sub`` was deleted recently
``invalid_grant`` "Invalid JWT Signature." / "No valid          the key was deleted or rotated
verifier found for issuer"
==============================================================  =================================
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ValidationFailed
from shared.providers.google.auth import refresh_credentials
from shared.settings import Settings

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
# What a service integration asks for, least privilege first: events of people's calendars
# (read, write, watch), the user directory (matching) and, optionally, rooms.
CALENDAR_EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events"
DIRECTORY_USERS_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
ROOMS_SCOPE = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
SERVICE_SCOPES = (CALENDAR_EVENTS_SCOPE, DIRECTORY_USERS_SCOPE, ROOMS_SCOPE)

_REQUIRED_KEY_FIELDS = ("client_email", "client_id", "private_key", "private_key_id")
_NUMERIC_ID = re.compile(r"\d{10,30}")


@dataclass(frozen=True)
class ServiceAccountKey:
    """A service account's JSON key (what the Google Cloud console downloads).

    ``client_id`` is the numeric id a super admin enters for domain-wide delegation (not the
    service account's email). ``info`` holds the private key: it goes to the secret store and
    nowhere else (no ``repr``).
    """

    client_email: str
    client_id: str
    private_key_id: str
    project_id: str
    info: Mapping[str, Any] = field(repr=False, compare=False)

    @staticmethod
    def parse(
        raw: str | Mapping[str, Any], *, field_name: str = "service_account_key"
    ) -> ServiceAccountKey:
        """Validate a key file (its JSON text or the decoded object).

        Raises ``ValidationFailed`` naming ``field_name``, never echoing the key: not JSON,
        not a ``service_account`` key, a missing field, a client id that is not numeric, or a
        private key google-auth cannot load.
        """

        def invalid(message: str) -> ValidationFailed:
            return ValidationFailed([{"field": field_name, "message": message}])

        if isinstance(raw, str):
            try:
                decoded = json.loads(raw)
            except ValueError:
                raise invalid("is not the JSON key file of a service account") from None
        else:
            decoded = raw
        if not isinstance(decoded, Mapping):
            raise invalid("is not the JSON key file of a service account")
        info = dict(decoded)
        if info.get("type") != "service_account":
            raise invalid('is not a service account key ("type" must be "service_account")')
        missing = [k for k in _REQUIRED_KEY_FIELDS if not isinstance(info.get(k), str)]
        if missing:
            raise invalid(f"lacks {', '.join(missing)}")
        if not _NUMERIC_ID.fullmatch(str(info["client_id"])):
            raise invalid("has a client_id that is not the numeric id of a service account")
        try:
            from google.oauth2 import service_account

            load: Any = service_account.Credentials.from_service_account_info
            load(info)
        except (ValueError, TypeError):
            raise invalid("has a private key that cannot be read") from None
        return ServiceAccountKey(
            client_email=str(info["client_email"]).lower(),
            client_id=str(info["client_id"]),
            private_key_id=str(info["private_key_id"]),
            project_id=str(info.get("project_id", "")),
            info=info,
        )

    def to_json(self) -> str:
        """The key file as stored in the secret store."""
        return json.dumps(dict(self.info), sort_keys=True)


class GoogleServiceAccountAuth:
    """A :class:`~shared.providers.base.TokenSource` acting as ``subject`` through domain-wide
    delegation.

    ``service_account_info`` is the key file JSON. Assertions always go to the configured
    ``GOOGLE_TOKEN_URI``, never to the key file's own ``token_uri``: the key comes from a
    customer, and a signed assertion must not be sent wherever a pasted file says.
    google-auth caches the token until shortly before expiry; ``force_refresh`` (after a 401)
    fetches a new one. Thread-safe; :meth:`for_subject` makes a source for another user with
    the same key.
    """

    def __init__(
        self,
        settings: Settings,
        service_account_info: Mapping[str, Any],
        subject: str,
        *,
        scopes: Sequence[str] = (CALENDAR_SCOPE,),
    ) -> None:
        from google.oauth2 import service_account

        self._settings = settings
        self._info = {**service_account_info, "token_uri": settings.google_token_uri}
        self._scopes = list(scopes)
        self.subject = subject
        factory: Any = service_account.Credentials.from_service_account_info
        self._credentials: Any = factory(self._info, scopes=self._scopes).with_subject(subject)
        self._lock = threading.Lock()

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self._scopes)

    def for_subject(
        self, subject: str, scopes: Sequence[str] | None = None
    ) -> GoogleServiceAccountAuth:
        """The same service account acting as another user (or a room's admin)."""
        return GoogleServiceAccountAuth(
            self._settings, self._info, subject, scopes=scopes or self._scopes
        )

    def __call__(self, *, force_refresh: bool = False) -> str:
        """A bearer token for ``subject``; ``ProviderDenied`` when Google refuses it (see the
        module table)."""
        with self._lock:
            if force_refresh or not self._credentials.valid:
                refresh_credentials(
                    self._credentials, self._settings, reconnect_on_invalid_grant=False
                )
            return str(self._credentials.token)
