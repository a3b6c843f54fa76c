"""The credentials an admin enters for a Google Workspace service integration (request model).

Kept apart from the adapter so that the HTTP layer (and the OpenAPI document) can use it
without importing google-auth.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator

_EMAIL_MAX = 320


class GoogleServiceCredentials(BaseModel):
    """Google Workspace credentials of a service integration: a service account's JSON key whose
    numeric client ID a super admin has authorised for domain-wide delegation, and the
    administrator the service acts as to read the user directory."""

    service_account_key: SecretStr | None = Field(
        default=None,
        max_length=16_000,
        description="The service account's JSON key file (as downloaded from the Google Cloud "
        "console), as an object or as its JSON text. Required when creating. Stored in the "
        "secret store, never returned.",
    )
    admin_email: str | None = Field(
        default=None,
        max_length=_EMAIL_MAX,
        description="Primary email address of a Google Workspace administrator allowed to read "
        "users (Admin API privilege Users > Read). Directory reads act as this account; "
        "calendar calls act as each person. Required when creating.",
    )
    user_id: str | None = Field(
        default=None,
        max_length=_EMAIL_MAX,
        description="Optional primary email address of the person whose calendar the setup "
        "check reads and writes a probe event in; without it the first matched person is used.",
    )

    model_config = {"extra": "forbid"}

    @field_validator("service_account_key", mode="before")
    @classmethod
    def _key_as_text(cls, value: Any) -> Any:
        # The key file may come as the decoded JSON object; it is kept as text, secret.
        if isinstance(value, dict):
            return json.dumps(value)
        return value

    @field_validator("admin_email", "user_id")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = value.strip().lower()
        local, at, domain = address.partition("@")
        if not at or not local or "." not in domain or " " in address:
            raise ValueError("must be an email address")
        return address
