"""The credentials an admin enters for a Microsoft 365 service integration (request model).

Kept apart from the adapter so that the HTTP layer (and the OpenAPI document) can use it
without importing msal.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field, SecretStr, model_validator


class MicrosoftServiceCredentials(BaseModel):
    """Microsoft 365 credentials of a service integration (an app registration in the
    customer's tenant with the application permissions Calendars.ReadWrite and User.Read.All,
    admin-consented). Give exactly one of ``client_secret`` and ``certificate_pem``."""

    tenant_id: str | None = Field(
        default=None,
        max_length=256,
        description="Directory (tenant) ID, or a verified domain of the tenant. Required when "
        "creating; never 'common' or 'organizations'.",
    )
    client_id: str | None = Field(
        default=None,
        max_length=64,
        description="Application (client) ID of the app registration. Required when creating.",
    )
    client_secret: SecretStr | None = Field(
        default=None,
        max_length=1024,
        description="The client secret's Value (not its Secret ID). Stored in the secret store, "
        "never returned.",
    )
    secret_expires_on: date | None = Field(
        default=None,
        description="When the secret expires (shown in the portal when it is created); the "
        "service warns 30, 7 and 1 days before.",
    )
    certificate_pem: SecretStr | None = Field(
        default=None,
        max_length=32_000,
        description="A certificate and its unencrypted private key, PEM, whose public part is "
        "uploaded to the app registration; the service signs client assertions with it. "
        "Stored in the secret store, never returned.",
    )
    user_id: str | None = Field(
        default=None,
        max_length=320,
        description="Optional mailbox (object id or address) the setup check reads and writes "
        "a probe event in. It grants nothing: under application permissions the app reaches "
        "every mailbox its scope allows. Without it the first matched person is used.",
    )

    model_config = {"extra": "forbid"}

    @model_validator(mode="after")
    def _one_credential(self) -> MicrosoftServiceCredentials:
        if self.client_secret is not None and self.certificate_pem is not None:
            raise ValueError("give either client_secret or certificate_pem, not both")
        return self
