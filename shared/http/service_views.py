"""Request and response models of service integrations (shared by the integration routes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, SecretStr

from shared.integrations.model import Integration, Kind
from shared.providers.google.service_credentials import GoogleServiceCredentials
from shared.providers.microsoft.service_credentials import MicrosoftServiceCredentials
from shared.service.config import ServiceConfigs
from shared.service.manager import days_left
from shared.services import Services

# What an admin sends as ``credentials`` (the shape of the integration's provider); each
# provider validates its own shape again when it parses them.
ServiceCredentials = MicrosoftServiceCredentials | GoogleServiceCredentials


def plain(model: BaseModel) -> dict[str, Any]:
    """The model as a plain mapping with secrets revealed, for the provider's own parser only."""
    out: dict[str, Any] = {}
    for name, value in model.model_dump(exclude_none=True).items():
        out[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return out


class DeleteQuery(BaseModel):
    remove_events: bool = Field(
        default=False,
        description="service kind: also delete, at the provider, the events the service "
        "created in people's calendars (default: they are kept)",
    )


class ServiceSettingsView(BaseModel):
    """Which credential a service integration holds: never the credential itself."""

    credential_type: str = Field(description="client_secret, certificate or service_account_key")
    credential_set_at: datetime | None = None
    credential_expires_on: datetime | None = Field(
        default=None, description="Expiry of the secret or certificate, when known"
    )
    days_to_expiry: int | None = None
    credential_error: str | None = Field(
        default=None,
        description="Why the integration stopped: the diagnostics code of the last refused "
        "credential or blocking check",
    )
    settings: dict[str, str] = Field(
        default_factory=dict, description="tenant_id and client_id (Microsoft), ..."
    )
    user_id: str | None = Field(
        default=None,
        description="The mailbox the setup check reads and writes; it grants nothing",
    )
    matched_at: datetime | None = None


class MatchingView(BaseModel):
    matched: int
    unmatched: int
    requests: int = Field(description="Provider requests the matching used")


def service_view(services: Services, integration: Integration) -> ServiceSettingsView | None:
    if integration.kind is not Kind.SERVICE:
        return None
    config = ServiceConfigs(services.tables, services.secrets).find(integration.org, integration.id)
    if config is None:
        return None
    return ServiceSettingsView(
        credential_type=config.credential_type,
        credential_set_at=config.credential_set_at,
        credential_expires_on=config.credential_expires_on,
        days_to_expiry=days_left(config, services.clock.now()),
        credential_error=config.credential_error,
        settings=dict(config.settings),
        user_id=config.probe_mailbox,
        matched_at=config.matched_at,
    )
