"""The simulated Entra ID directory: tenants, users, rooms, app registrations and consent.

Shared by the identity platform (:mod:`simulator.microsoft.identity`), which grants consent and
issues tokens, and by Graph (:mod:`simulator.microsoft.graph`), which resolves users and rooms and
checks permissions. Obtain it with :func:`directory` (one per :class:`~simulator.world.World`).

Vocabulary follows Entra ID: an *app registration* (client id, secret, redirect URIs, the
permissions it is configured to need) becomes a *service principal* in each tenant that uses it;
delegated consent is an *OAuth2 permission grant* for one user or for ``AllPrincipals``;
application permissions are *app role assignments* granted by admin consent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from simulator.world import World

# Permissions a tenant's "low impact" user-consent setting lets users grant themselves.
LOW_IMPACT = frozenset({"openid", "profile", "email", "offline_access", "User.Read"})
ALL_PRINCIPALS = "AllPrincipals"

UserConsent = Literal["allowed", "low_impact_only", "disabled"]
RoomPolicy = Literal["accept", "decline_when_busy", "never_answer"]


@dataclass
class PasswordCredential:
    """A client secret of an app registration, as Graph's ``passwordCredential``: ``key_id``
    is the "Secret ID" the portal shows next to the value (a GUID), ``secret_text`` the value
    (shown once), ``end`` its expiry (epoch seconds of the simulator clock)."""

    key_id: str
    secret_text: str
    end: float
    display_name: str = ""


@dataclass
class KeyCredential:
    """A certificate uploaded to an app registration (``keyCredential``): the PEM, its SHA-1
    and SHA-256 thumbprints (hex) and expiry (epoch seconds)."""

    key_id: str
    certificate_pem: str
    sha1: str
    sha256: str
    end: float


@dataclass
class AppRegistration:
    """An app registration (multi-tenant unless ``home_tenant_id`` is set)."""

    client_id: str
    display_name: str
    client_secret: str | None = None
    password_credentials: list[PasswordCredential] = field(default_factory=list)
    key_credentials: list[KeyCredential] = field(default_factory=list)
    redirect_uris: list[str] = field(default_factory=list)
    home_tenant_id: str | None = None
    # Permissions the registration is configured with (what admin consent grants with /.default).
    delegated_permissions: set[str] = field(default_factory=set)
    application_permissions: set[str] = field(default_factory=set)


@dataclass
class ServicePrincipal:
    """The app's instance in one tenant: assignment, consent grants, application roles."""

    client_id: str
    assignment_required: bool = False
    assigned_user_ids: set[str] = field(default_factory=set)
    # principal id (a user id, or ALL_PRINCIPALS) -> delegated scopes granted
    delegated_grants: dict[str, set[str]] = field(default_factory=dict)
    app_roles: set[str] = field(default_factory=set)
    # Exchange Online application access policy / RBAC for Applications: when set, app-only
    # calls reach only these mailboxes (user ids); others answer ErrorAccessDenied
    # "Access to OData is disabled." (https://learn.microsoft.com/graph/auth-limit-mailbox-access).
    mailbox_scope: set[str] | None = None

    def granted_for(self, user_id: str) -> set[str]:
        return self.delegated_grants.get(ALL_PRINCIPALS, set()) | self.delegated_grants.get(
            user_id, set()
        )


@dataclass
class TenantPolicy:
    """Tenant-wide settings that reproduce the situations of the consent troubleshooting guide."""

    user_consent: UserConsent = "allowed"
    admin_consent_workflow: bool = False  # users may request approval ("Need admin approval")
    conditional_access_block: bool = False  # AADSTS53003
    mfa_required: bool = False  # AADSTS50076 on non-interactive token requests
    guests_blocked: bool = False  # AADSTS50020 for users from other tenants


@dataclass
class MsUser:
    """A user or a room mailbox (``kind='room'``)."""

    id: str
    tenant_id: str
    user_principal_name: str
    display_name: str
    mail: str
    is_admin: bool = False  # may consent on behalf of the organisation
    account_enabled: bool = True
    kind: Literal["user", "room"] = "user"
    room_policy: RoomPolicy = "accept"
    capacity: int | None = None
    building: str | None = None
    # Graph user properties matching needs: aliases ("SMTP:primary", "smtp:alias"), Member or
    # Guest, and whether an Exchange Online mailbox exists (unlicensed and on-premises users
    # have none: MailboxNotEnabledForRESTAPI).
    proxy_addresses: list[str] = field(default_factory=list)
    user_type: Literal["Member", "Guest"] = "Member"
    has_mailbox: bool = True


@dataclass
class ConsentRequest:
    """An admin-consent-workflow request a user filed; an admin approves it."""

    id: str
    client_id: str
    user_id: str
    scopes: set[str]
    status: Literal["pending", "approved", "denied"] = "pending"


@dataclass
class Tenant:
    id: str
    display_name: str
    domains: list[str]
    policy: TenantPolicy = field(default_factory=TenantPolicy)
    users: dict[str, MsUser] = field(default_factory=dict)
    service_principals: dict[str, ServicePrincipal] = field(default_factory=dict)
    consent_requests: list[ConsentRequest] = field(default_factory=list)

    def find_user(self, key: str) -> MsUser | None:
        """A user by id, UPN or mail (case-insensitive), as Graph resolves ``/users/{id|upn}``."""
        if key in self.users:
            return self.users[key]
        lowered = key.lower()
        for user in self.users.values():
            if lowered in (user.user_principal_name.lower(), user.mail.lower()):
                return user
        return None

    def rooms(self) -> list[MsUser]:
        return [u for u in self.users.values() if u.kind == "room"]


@dataclass
class Directory:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    apps: dict[str, AppRegistration] = field(default_factory=dict)

    def tenant(self, key: str) -> Tenant | None:
        """A tenant by id or by one of its domains."""
        if key in self.tenants:
            return self.tenants[key]
        for tenant in self.tenants.values():
            if key.lower() in (d.lower() for d in tenant.domains):
                return tenant
        return None

    def find_user_anywhere(self, key: str) -> MsUser | None:
        for tenant in self.tenants.values():
            user = tenant.find_user(key)
            if user is not None:
                return user
        return None

    def add_tenant(
        self, domain: str, display_name: str | None = None, tenant_id: str | None = None
    ) -> Tenant:
        tenant = Tenant(
            id=tenant_id or str(uuid.uuid4()), display_name=display_name or domain, domains=[domain]
        )
        self.tenants[tenant.id] = tenant
        return tenant

    def add_user(
        self,
        tenant: Tenant,
        local_part: str,
        display_name: str | None = None,
        *,
        is_admin: bool = False,
        kind: Literal["user", "room"] = "user",
        room_policy: RoomPolicy = "accept",
        capacity: int | None = None,
        user_id: str | None = None,
    ) -> MsUser:
        address = f"{local_part}@{tenant.domains[0]}"
        user = MsUser(
            id=user_id or str(uuid.uuid4()),
            tenant_id=tenant.id,
            user_principal_name=address,
            display_name=display_name or local_part.replace(".", " ").title(),
            mail=address,
            is_admin=is_admin,
            kind=kind,
            room_policy=room_policy,
            capacity=capacity,
        )
        tenant.users[user.id] = user
        return user


def directory(world: World) -> Directory:
    """The world's Entra ID directory."""
    return world.area("microsoft.directory", Directory)
