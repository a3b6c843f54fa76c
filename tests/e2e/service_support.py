"""End-to-end helpers for service (app-only) integrations on the Microsoft side.

A customer tenant registers its own app (single-tenant, application permissions
Calendars.ReadWrite and User.Read.All), creates a client secret, and its IT admin grants admin
consent; the host app's admin enters tenant id, client id and the secret's value.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.conftest import Stack
from tests.e2e.sync_support import ADMIN

APP_PERMISSIONS = ["Calendars.ReadWrite", "User.Read.All"]


@dataclass
class ServiceTenant:
    tenant_id: str
    domain: str
    client_id: str
    secret: str  # the secret's value
    secret_id: str  # its "Secret ID" (keyId)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    def email(self, local: str) -> str:
        return f"{local}@{self.domain}"


def service_tenant(
    stack: Stack,
    *,
    consent: bool = True,
    secret_lifetime: float = 180 * 86400,
    existing: tuple[str, str] | None = None,
) -> ServiceTenant:
    """A tenant (new, or ``existing`` = (tenant id, domain)) with its own app registration and
    a client secret (consented when asked)."""
    if existing is None:
        domain = f"s{secrets.token_hex(4)}.example"
        tenant_id = stack.sim.create_tenant(domain)["id"]
    else:
        tenant_id, domain = existing
    client_id = str(uuid.uuid4())
    stack.sim.create_app(
        "Instructor calendar sync",
        client_id=client_id,
        home_tenant_id=tenant_id,
        application_permissions=APP_PERMISSIONS,
    )
    password = stack.sim.add_password(client_id, lifetime_seconds=secret_lifetime)
    if consent:
        stack.sim.grant_consent(tenant_id, client_id, app_roles=APP_PERMISSIONS)
    return ServiceTenant(tenant_id, domain, client_id, password["secretText"], password["keyId"])


def add_user(stack: Stack, tenant: ServiceTenant, local: str, **graph: Any) -> dict[str, Any]:
    user = stack.sim.create_user(tenant.tenant_id, local, **graph)
    tenant.users[local] = user
    return user


def credentials(tenant: ServiceTenant, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": tenant.tenant_id,
        "client_id": tenant.client_id,
        "client_secret": tenant.secret,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def create_service(
    stack: Stack, org: str, tenant: ServiceTenant, *, name: str = "Instructors", **overrides: Any
) -> httpx.Response:
    return stack.call(
        "POST",
        f"orgs/{org}/integrations",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={
            "kind": "service",
            "provider": "microsoft",
            "name": name,
            "credentials": credentials(tenant, **overrides),
        },
    )


def people_view(stack: Stack, org: str, integration: str) -> dict[str, dict[str, Any]]:
    answer = stack.call(
        "GET", f"orgs/{org}/integrations/{integration}/people", org=org, sub="ada", roles=ADMIN
    )
    assert answer.status_code == 200, answer.text
    return {p["id"]: p for p in answer.json()["items"]}


def issue_codes(integration_view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in integration_view["check"]["issues"]}


def self_signed_certificate(days: int = 365) -> tuple[str, str, datetime]:
    """A certificate and its private key (PEM) as an admin makes one for an app registration,
    and its expiry."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "instructor-calendar-sync")])
    now = datetime.now(UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert_pem, key_pem, cert.not_valid_after_utc
