"""State of the simulated identity platform: codes, refresh tokens, sign-in flows, consent rules.

Kept apart from :mod:`simulator.microsoft.directory` (the tenants' configuration) because this is
the security token service's own bookkeeping: what it issued and when. Everything here is guarded
by ``world.lock`` in the route handlers.

Refresh tokens rotate: each redemption returns a new token and retires the old one (the
simulator is stricter than Entra, which lets an old token live until it expires, so that clients
that forget to store the rotated token are caught in tests). A refresh token dies when it was not
used for ``refresh_token_max_inactive_seconds`` (Entra's 90-day inactivity window, AADSTS700082)
or when it was issued before the user's *TokensValidFrom* (password change, admin revoke,
AADSTS50173).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

from simulator.microsoft.directory import (
    ALL_PRINCIPALS,
    LOW_IMPACT,
    AppRegistration,
    ServicePrincipal,
    Tenant,
    TenantPolicy,
)
from simulator.world import World

GRAPH_PREFIX = "https://graph.microsoft.com/"
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
NINETY_DAYS = 90 * 24 * 3600


@dataclass
class AuthCode:
    code: str
    client_id: str
    tenant_id: str
    user_id: str
    redirect_uri: str
    scopes: list[str]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float
    mfa_done: bool
    redeemed: bool = False


@dataclass
class RefreshToken:
    token: str
    client_id: str
    tenant_id: str
    user_id: str
    scopes: list[str]
    issued_at: float
    last_used_at: float
    mfa_done: bool
    retired: bool = False
    revoked: bool = False


@dataclass
class PendingFlow:
    """An interactive flow between the first GET and the final redirect."""

    id: str
    kind: Literal["authorize", "adminconsent"]
    tenant_key: str
    params: dict[str, str]
    user_id: str | None = None
    tenant_id: str | None = None  # the tenant the user signed in to


@dataclass
class IdentityState:
    codes: dict[str, AuthCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    flows: dict[str, PendingFlow] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # browser session id -> user id
    tokens_valid_from: dict[str, float] = field(default_factory=dict)  # user id -> timestamp
    code_lifetime_seconds: int = 600
    access_token_lifetime_seconds: int = 3600
    refresh_token_max_inactive_seconds: int = NINETY_DAYS


def identity_state(world: World) -> IdentityState:
    """The world's security-token-service bookkeeping."""
    return world.area("microsoft.identity", IdentityState)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


# --- scopes -------------------------------------------------------------------------------------


def normalize_scopes(raw: str) -> list[str]:
    """Scopes as Graph short names (``Calendars.ReadWrite``), OIDC scopes and ``.default``.

    The v2 endpoint accepts ``https://graph.microsoft.com/Calendars.ReadWrite`` and the short
    form alike; Graph is the default resource.
    """
    result: list[str] = []
    for item in raw.split():
        scope = item[len(GRAPH_PREFIX) :] if item.lower().startswith(GRAPH_PREFIX) else item
        if scope not in result:
            result.append(scope)
    return result


def delegated_request(app: AppRegistration, scopes: list[str]) -> set[str]:
    """The delegated permissions a request asks for (``.default`` = the configured ones)."""
    wanted = {s for s in scopes if s != ".default"}
    if ".default" in scopes:
        wanted |= app.delegated_permissions
    return wanted


def missing_consent(sp: ServicePrincipal | None, user_id: str, wanted: set[str]) -> set[str]:
    granted = sp.granted_for(user_id) if sp is not None else set()
    return {s for s in wanted if s not in granted}


def user_may_consent(policy: TenantPolicy, missing: set[str]) -> bool:
    """Whether a non-admin may grant ``missing`` under the tenant's user-consent setting."""
    if policy.user_consent == "allowed":
        return True
    if policy.user_consent == "low_impact_only":
        return missing <= LOW_IMPACT
    return False


def ensure_service_principal(tenant: Tenant, client_id: str) -> ServicePrincipal:
    """The app's service principal in ``tenant`` (consent creates it, as in Entra ID)."""
    sp = tenant.service_principals.get(client_id)
    if sp is None:
        sp = ServicePrincipal(client_id=client_id)
        tenant.service_principals[client_id] = sp
    return sp


def grant_delegated(sp: ServicePrincipal, principal: str, scopes: set[str]) -> None:
    """Record an OAuth2 permission grant for a user id or ``AllPrincipals``."""
    sp.delegated_grants.setdefault(principal, set()).update(scopes)


def grant_admin_consent(
    tenant: Tenant, app: AppRegistration, scopes: set[str], *, app_roles: bool
) -> ServicePrincipal:
    """Tenant-wide consent: delegated for AllPrincipals and, when asked, application roles."""
    sp = ensure_service_principal(tenant, app.client_id)
    grant_delegated(sp, ALL_PRINCIPALS, scopes | OIDC_SCOPES)
    if app_roles:
        sp.app_roles |= app.application_permissions
    return sp


def revoke_refresh_tokens(world: World, user_id: str, client_id: str | None = None) -> int:
    """Revoke a user's refresh tokens (all apps: a password change; one app: an admin revoke).

    Returns how many live tokens were revoked. For all apps the user's TokensValidFrom moves to
    now, which is what Entra reports in AADSTS50173.
    """
    state = identity_state(world)
    now = world.timestamp()
    if client_id is None:
        state.tokens_valid_from[user_id] = now
    count = 0
    for token in state.refresh_tokens.values():
        if token.user_id != user_id or token.retired or token.revoked:
            continue
        if client_id is None or token.client_id == client_id:
            token.revoked = True
            count += 1
    return count
