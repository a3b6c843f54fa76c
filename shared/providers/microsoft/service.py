"""Microsoft 365 service integrations: the customer's own app registration, app-only.

Implements :class:`shared.service.ports.ServiceProvider`. The admin enters the tenant id, the
application (client) id and a credential: a client secret (with its expiry date, which the
portal shows only when the secret is made) or a certificate with its private key (PEM), which
Microsoft recommends over secrets (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
Tokens come from ``{authority}/{tenant}/oauth2/v2.0/token`` with the ``.default`` scope through
msal (client credentials), never from ``/common`` (AADSTS50194 for single-tenant apps).

``user_id`` (the article's "User ID") grants nothing under application permissions: it only
names the mailbox the setup check reads and writes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.errors import BadRequest, ProviderDenied, ProviderError, ValidationFailed
from shared.providers.base import CalendarClient, TokenSource
from shared.providers.microsoft.auth import MicrosoftAppAuth, trusted_session
from shared.providers.microsoft.calendar import GraphCalendarClient
from shared.providers.microsoft.directory import GraphDirectory
from shared.providers.microsoft.service_credentials import MicrosoftServiceCredentials
from shared.service.model import ParsedCredentials, ServiceConfig
from shared.settings import Settings, resolve_path

if TYPE_CHECKING:
    from shared.service.ports import AppCredential, DirectoryMatcher, ServiceProvider

PROVIDER = "microsoft"
APPLICATION_PERMISSIONS = ("Calendars.ReadWrite", "User.Read.All")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_GENERIC_TENANTS = frozenset({"common", "organizations", "consumers"})
_OUTSIDE_SCOPE = "access to odata is disabled"


def _when(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0, 0), tzinfo=UTC)


def _certificate(pem: str) -> tuple[str, str, datetime]:
    """``(private key PEM, certificate PEM, not-after)``; ``BadRequest`` when unusable."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    blocks = re.findall(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", pem, flags=re.S)
    texts = re.findall(r"(-----BEGIN ([A-Z ]+)-----.+?-----END \2-----)", pem, flags=re.S)
    cert_pem = next((t for t, kind in texts if kind == "CERTIFICATE"), None)
    key_pem = next((t for t, kind in texts if kind.endswith("PRIVATE KEY")), None)
    if not blocks or cert_pem is None or key_pem is None:
        raise BadRequest(
            "certificate_pem must hold the certificate and its private key (PEM)",
            code="invalid_certificate",
        )
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise BadRequest(
            "certificate_pem could not be read (an unencrypted PEM private key is needed)",
            code="invalid_certificate",
        ) from exc
    return key_pem, cert_pem, cert.not_valid_after_utc


def looks_like_secret_id(secret: str) -> bool:
    """A secret's *ID* is a GUID; its *value* never is (portal values are 40 characters)."""
    return bool(_GUID.match(secret.strip()))


class _Credential:
    """Implements :class:`shared.service.ports.AppCredential` over msal client credentials."""

    def __init__(self, auth: MicrosoftAppAuth) -> None:
        self.auth = auth

    def token_source(self, mailbox: str | None = None) -> TokenSource:
        del mailbox  # one app-only token reaches every mailbox in scope
        return self.auth.token_source()

    def check(self) -> None:
        self.auth.token(force_refresh=True)


class MicrosoftServiceProvider:
    """Implements :class:`shared.service.ports.ServiceProvider` for Microsoft 365."""

    provider = PROVIDER
    type_label = "Microsoft Exchange"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        ca = settings.provider_ca_bundle
        self._session = trusted_session(str(resolve_path(ca)) if ca else None)
        self._credentials: dict[tuple[str, int], _Credential] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    # --- credentials ------------------------------------------------------------------------

    def parse(
        self, credentials: Mapping[str, Any], current: ServiceConfig | None = None
    ) -> ParsedCredentials:
        try:
            body = MicrosoftServiceCredentials.model_validate(dict(credentials))
        except ValidationError as exc:
            raise ValidationFailed(
                [
                    {"field": ".".join(["credentials", *map(str, e["loc"])]), "message": e["msg"]}
                    for e in exc.errors()
                ]
            ) from exc
        tenant = body.tenant_id or (current.settings.get("tenant_id") if current else "") or ""
        client_id = body.client_id or (current.settings.get("client_id") if current else "") or ""
        tenant, client_id = tenant.strip(), client_id.strip()
        if not tenant or not client_id:
            raise ValidationFailed(
                [{"field": "credentials", "message": "tenant_id and client_id are required"}]
            )
        if tenant.lower() in _GENERIC_TENANTS or not (_GUID.match(tenant) or _DOMAIN.match(tenant)):
            raise BadRequest(
                "tenant_id must be the directory (tenant) ID or a verified domain of the tenant, "
                "never common/organizations",
                code="invalid_tenant_id",
            )
        if not _GUID.match(client_id):
            raise BadRequest(
                "client_id must be the application (client) ID, a GUID", code="invalid_client_id"
            )
        probe = body.user_id.strip() if body.user_id else None
        if probe is None and current is not None:
            probe = current.probe_mailbox
        settings = {"tenant_id": tenant, "client_id": client_id}
        if body.certificate_pem is not None:
            key, cert, not_after = _certificate(body.certificate_pem.get_secret_value())
            secret = json.dumps({"private_key": key, "certificate": cert})
            return ParsedCredentials("certificate", settings, secret, not_after, probe)
        if body.client_secret is None:
            raise ValidationFailed(
                [
                    {
                        "field": "credentials",
                        "message": "client_secret or certificate_pem is required",
                    }
                ]
            )
        value = body.client_secret.get_secret_value().strip()
        if not value:
            raise ValidationFailed([{"field": "credentials.client_secret", "message": "empty"}])
        secret = json.dumps({"client_secret": value})
        return ParsedCredentials(
            "client_secret", settings, secret, _when(body.secret_expires_on), probe
        )

    def credential(self, config: ServiceConfig, secret: str) -> AppCredential:
        key = (config.integration_id, config.credential_version)
        with self._lock:
            found = self._credentials.get(key)
            if found is None:
                stored = json.loads(secret)
                client_credential: str | dict[str, str]
                if "client_secret" in stored:
                    client_credential = str(stored["client_secret"])
                else:
                    # No thumbprint: msal (1.35+) signs with PS256 and sends x5t#S256, the
                    # SHA-256 thumbprint Entra ID accepts for certificate credentials.
                    client_credential = {
                        "private_key": str(stored["private_key"]),
                        "public_certificate": str(stored["certificate"]),
                    }
                found = _Credential(
                    MicrosoftAppAuth(
                        self._settings.microsoft_authority_host,
                        config.settings["tenant_id"],
                        config.settings["client_id"],
                        client_credential,
                        http_client=self._session,
                    )
                )
                # Older versions of this integration's credential are dropped.
                for old in [k for k in self._credentials if k[0] == config.integration_id]:
                    del self._credentials[old]
                self._credentials[key] = found
            return found

    # --- directory and calendars ------------------------------------------------------------

    def directory(self, config: ServiceConfig, credential: AppCredential) -> DirectoryMatcher:
        return GraphDirectory(
            self._settings,
            credential.token_source(),
            tenant_id=config.settings["tenant_id"],
            list_above=self._settings.service_match_list_above,
        )

    def calendar(
        self, config: ServiceConfig, credential: AppCredential, mailbox: str
    ) -> CalendarClient:
        # The mailbox id keys the 4-concurrent-requests cap, shared with every other client of
        # this mailbox in the process (workspace and service paths alike).
        return GraphCalendarClient(
            self._settings,
            credential.token_source(mailbox),
            user=mailbox,
            mailbox_key=mailbox,
            app_only=True,
        )

    # --- diagnostics ------------------------------------------------------------------------

    def issue_code(self, exc: ProviderError, check: str, config: ServiceConfig, secret: str) -> str:
        code = exc.provider_code or ""
        message = str(exc.detail).lower()
        if code == "AADSTS7000215":
            stored = json.loads(secret) if secret else {}
            if looks_like_secret_id(str(stored.get("client_secret", ""))):
                return "service.secret_id_pasted"
            return "service.secret_invalid"
        by_aadsts = {
            "AADSTS7000222": "service.secret_expired",
            "AADSTS90002": "service.tenant_not_found",
            "AADSTS700016": "service.app_not_found",
            "AADSTS700027": "service.certificate_invalid",
            "AADSTS700024": "service.certificate_invalid",
            "AADSTS7000112": "service.app_disabled",
        }
        if code in by_aadsts:
            return by_aadsts[code]
        if code.startswith("AADSTS") or code in ("invalid_client", "unauthorized_client"):
            return "service.token_refused"
        if check == "rooms":
            return "room_listing_not_permitted"
        if check == "subscription":
            return "webhook_unreachable"
        if code in ("MailboxNotEnabledForRESTAPI", "MailboxNotSupportedForRESTAPI"):
            return "service.no_mailbox"
        if code == "ErrorAccessDenied" and _OUTSIDE_SCOPE in message:
            return "service.mailbox_outside_scope"
        if code in ("Authorization_RequestDenied", "ErrorAccessDenied") or (
            isinstance(exc, ProviderDenied) and check in ("directory", "mailbox")
        ):
            return "service.admin_consent_missing"
        if code in ("ErrorInvalidUser", "Request_ResourceNotFound") and check == "mailbox":
            return "service.probe_mailbox_not_found"
        return "service.provider_error"

    def credential_invalid(self, exc: ProviderError) -> bool:
        return (exc.provider_code or "") in (
            "AADSTS7000215",
            "AADSTS7000222",
            "AADSTS700016",
            "AADSTS90002",
            "AADSTS700027",
            "AADSTS700024",
            "AADSTS7000112",
        )

    def issue_details(self, config: ServiceConfig) -> dict[str, str]:
        return {
            "client_id": config.settings.get("client_id", ""),
            "tenant": config.settings.get("tenant_id", ""),
            "scope": ", ".join(APPLICATION_PERMISSIONS),
            "user": config.probe_mailbox or "the first matched person's mailbox",
        }


if TYPE_CHECKING:  # mypy proves the class satisfies the protocol the core programs against.

    def _conforms(settings: Settings) -> ServiceProvider:
        return MicrosoftServiceProvider(settings)
