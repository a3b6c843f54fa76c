"""Control routes for the simulated Entra ID directory (``/_sim/microsoft/...``), JSON only.

Tests and demos use them, through :class:`simulator.client.SimulatorClient`, to build tenants,
users, rooms and app registrations, to set the tenant policies of the consent troubleshooting
guide, to grant or revoke consent, to approve consent requests and to revoke a user's refresh
tokens. ``{tenant}`` is a tenant id or domain, ``{user}`` a user id, UPN or mail.
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.microsoft import client_auth
from simulator.microsoft.directory import (
    ALL_PRINCIPALS,
    AppRegistration,
    ConsentRequest,
    KeyCredential,
    MsUser,
    PasswordCredential,
    ServicePrincipal,
    Tenant,
    TenantPolicy,
    directory,
)
from simulator.microsoft.identity_state import (
    OIDC_SCOPES,
    ensure_service_principal,
    grant_admin_consent,
    grant_delegated,
    identity_state,
    revoke_refresh_tokens,
)
from simulator.world import World

P = "/_sim/microsoft"


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def tenant_json(t: Tenant) -> dict[str, Any]:
    return {
        "id": t.id,
        "display_name": t.display_name,
        "domains": list(t.domains),
        "policy": {f.name: getattr(t.policy, f.name) for f in fields(TenantPolicy)},
    }


def user_json(u: MsUser) -> dict[str, Any]:
    return {
        "id": u.id,
        "tenant_id": u.tenant_id,
        "user_principal_name": u.user_principal_name,
        "mail": u.mail,
        "display_name": u.display_name,
        "is_admin": u.is_admin,
        "account_enabled": u.account_enabled,
        "kind": u.kind,
        "room_policy": u.room_policy,
        "capacity": u.capacity,
        "building": u.building,
        "proxy_addresses": list(u.proxy_addresses),
        "user_type": u.user_type,
        "has_mailbox": u.has_mailbox,
    }


def app_json(a: AppRegistration) -> dict[str, Any]:
    return {
        "client_id": a.client_id,
        "display_name": a.display_name,
        "client_secret": a.client_secret,
        "redirect_uris": list(a.redirect_uris),
        "home_tenant_id": a.home_tenant_id,
        "delegated_permissions": sorted(a.delegated_permissions),
        "application_permissions": sorted(a.application_permissions),
    }


def sp_json(sp: ServicePrincipal) -> dict[str, Any]:
    return {
        "client_id": sp.client_id,
        "assignment_required": sp.assignment_required,
        "assigned_user_ids": sorted(sp.assigned_user_ids),
        "delegated_grants": {k: sorted(v) for k, v in sp.delegated_grants.items()},
        "app_roles": sorted(sp.app_roles),
        "mailbox_scope": None if sp.mailbox_scope is None else sorted(sp.mailbox_scope),
    }


def request_json(r: ConsentRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "client_id": r.client_id,
        "user_id": r.user_id,
        "scopes": sorted(r.scopes),
        "status": r.status,
    }


async def _body(request: Request) -> dict[str, Any]:
    if not await request.body():
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ControlError(400, "body must be a JSON object")
    return data


def _tenant(world: World, key: str) -> Tenant:
    tenant = directory(world).tenant(key)
    if tenant is None:
        raise ControlError(404, f"no tenant {key!r}")
    return tenant


def _user(tenant: Tenant, key: str) -> MsUser:
    user = tenant.find_user(key)
    if user is None:
        raise ControlError(404, f"no user {key!r} in {tenant.domains[0]}")
    return user


def _app(world: World, client_id: str) -> AppRegistration:
    app = directory(world).apps.get(client_id)
    if app is None:
        raise ControlError(404, f"no app registration {client_id!r}")
    return app


def _local_part(tenant: Tenant, body: dict[str, Any]) -> str:
    if body.get("email"):
        local, _, domain = str(body["email"]).partition("@")
        if domain.lower() not in (d.lower() for d in tenant.domains):
            raise ControlError(400, f"{domain!r} is not a domain of tenant {tenant.id}")
        return local
    if not body.get("local_part"):
        raise ControlError(400, "give 'email' or 'local_part'")
    return str(body["local_part"])


def _handler(fn: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        world: World = request.app.state.world
        try:
            body = await _body(request) if request.method in ("POST", "PUT", "PATCH") else {}
            with world.lock:
                result = fn(world, request.path_params, body)
        except ControlError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(result)

    return endpoint


# --- tenants, users, rooms -------------------------------------------------------------------


def list_tenants(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    return [tenant_json(t) for t in directory(world).tenants.values()]


def create_tenant(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    if not b.get("domain"):
        raise ControlError(400, "'domain' is required")
    if directory(world).tenant(b["domain"]) is not None:
        raise ControlError(409, f"tenant {b['domain']!r} exists")
    tenant = directory(world).add_tenant(b["domain"], b.get("display_name"), b.get("id"))
    return tenant_json(tenant)


def get_tenant(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    tenant = _tenant(world, p["tenant"])
    data = tenant_json(tenant)
    data["users"] = [user_json(u) for u in tenant.users.values()]
    data["service_principals"] = [sp_json(sp) for sp in tenant.service_principals.values()]
    return data


def set_policy(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    tenant = _tenant(world, p["tenant"])
    names = {f.name for f in fields(TenantPolicy)}
    unknown = set(b) - names
    if unknown:
        raise ControlError(400, f"unknown policy settings {sorted(unknown)}")
    if "user_consent" in b and b["user_consent"] not in ("allowed", "low_impact_only", "disabled"):
        raise ControlError(400, "user_consent is allowed, low_impact_only or disabled")
    for name, value in b.items():
        setattr(tenant.policy, name, value)
    return tenant_json(tenant)


def create_user(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    tenant = _tenant(world, p["tenant"])
    user = directory(world).add_user(
        tenant,
        _local_part(tenant, b),
        b.get("display_name"),
        is_admin=bool(b.get("is_admin", False)),
        user_id=b.get("id"),
    )
    _apply_user_fields(user, b)
    return user_json(user)


def create_users(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    """Many users at once (benchmarks build directories of thousands): ``{"users": [...]}``,
    each as for one user; answers their ids in order."""
    tenant = _tenant(world, p["tenant"])
    made = []
    for item in b.get("users", []):
        user = directory(world).add_user(
            tenant, _local_part(tenant, item), item.get("display_name"), user_id=item.get("id")
        )
        _apply_user_fields(user, item)
        made.append(user.id)
    return {"ids": made}


_USER_FIELDS = ("mail", "user_principal_name", "proxy_addresses", "user_type", "has_mailbox")


def _apply_user_fields(user: MsUser, b: dict[str, Any]) -> None:
    """Graph properties a test sets beyond the defaults (an address differing from the UPN,
    aliases, a guest, a user without an Exchange Online mailbox)."""
    if "user_type" in b and b["user_type"] not in ("Member", "Guest"):
        raise ControlError(400, "user_type is Member or Guest")
    for name in _USER_FIELDS:
        if name in b and b[name] is not None:
            value = b[name]
            setattr(user, name, list(value) if name == "proxy_addresses" else value)


def update_user(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    user = _user(_tenant(world, p["tenant"]), p["user"])
    for name in ("is_admin", "account_enabled", "display_name", "room_policy", "capacity"):
        if name in b:
            setattr(user, name, b[name])
    _apply_user_fields(user, b)
    return user_json(user)


def create_room(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    tenant = _tenant(world, p["tenant"])
    policy = b.get("policy", "accept")
    if policy not in ("accept", "decline_when_busy", "never_answer"):
        raise ControlError(400, "policy is accept, decline_when_busy or never_answer")
    room = directory(world).add_user(
        tenant,
        _local_part(tenant, b),
        b.get("display_name"),
        kind="room",
        room_policy=policy,
        capacity=b.get("capacity"),
        user_id=b.get("id"),
    )
    room.building = b.get("building")
    return user_json(room)


def revoke_sessions(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    user = _user(_tenant(world, p["tenant"]), p["user"])
    return {"revoked": revoke_refresh_tokens(world, user.id, b.get("client_id"))}


# --- app registrations and service principals ------------------------------------------------


def list_apps(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    return [app_json(a) for a in directory(world).apps.values()]


def create_app(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    dir_ = directory(world)
    client_id = str(b.get("client_id") or uuid.uuid4())
    if client_id in dir_.apps:
        raise ControlError(409, f"app {client_id!r} exists")
    home = _tenant(world, b["home_tenant_id"]) if b.get("home_tenant_id") else None
    app = AppRegistration(
        client_id=client_id,
        display_name=str(b.get("display_name") or client_id),
        client_secret=b.get("client_secret"),
        redirect_uris=list(b.get("redirect_uris", [])),
        home_tenant_id=home.id if home else None,
        delegated_permissions=set(b.get("delegated_permissions", [])),
        application_permissions=set(b.get("application_permissions", [])),
    )
    dir_.apps[client_id] = app
    if b.get("publisher_tenant_id") or home is not None:
        # Registering an app creates its service principal in the registering tenant.
        ensure_service_principal(home or _tenant(world, b["publisher_tenant_id"]), client_id)
    return app_json(app)


def update_app(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    app = _app(world, p["client_id"])
    for name in ("display_name", "client_secret"):
        if name in b:
            setattr(app, name, b[name])
    if "redirect_uris" in b:
        app.redirect_uris = list(b["redirect_uris"])
    for name in ("delegated_permissions", "application_permissions"):
        if name in b:
            setattr(app, name, set(b[name]))
    return app_json(app)


def add_password(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    """Graph's ``application: addPassword``: a new secret; the value is returned only here."""
    app = _app(world, p["client_id"])
    seconds = float(b.get("lifetime_seconds", 180 * 86400))
    credential = PasswordCredential(
        key_id=str(uuid.uuid4()),
        secret_text=str(b.get("secret_text") or _secret_value()),
        end=world.timestamp() + seconds,
        display_name=str(b.get("display_name", "")),
    )
    app.password_credentials.append(credential)
    return {
        "keyId": credential.key_id,
        "secretText": credential.secret_text,
        "displayName": credential.display_name,
        "endDateTime": _iso(credential.end),
    }


def remove_password(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    app = _app(world, p["client_id"])
    app.password_credentials = [c for c in app.password_credentials if c.key_id != b.get("keyId")]
    return {"removed": True}


def add_certificate(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    """Upload a certificate's public part (``keyCredentials``)."""
    app = _app(world, p["client_id"])
    pem = str(b.get("certificate_pem") or "")
    try:
        sha1, sha256 = client_auth.thumbprints(pem)
        end = client_auth.not_after(pem)
    except ValueError as exc:
        raise ControlError(400, f"not a PEM certificate: {exc}") from exc
    key = KeyCredential(str(uuid.uuid4()), pem, sha1, sha256, end)
    app.key_credentials.append(key)
    return {"keyId": key.key_id, "thumbprint": sha1.upper(), "endDateTime": _iso(end)}


def _secret_value() -> str:
    # Portal secret values are 40 characters from this alphabet (with a "~" at position 3).
    alphabet = string.ascii_letters + string.digits + "~._-"
    return (
        "".join(secrets.choice(alphabet) for _ in range(3))
        + "~"
        + "".join(secrets.choice(alphabet) for _ in range(36))
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_app(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    return app_json(_app(world, p["client_id"]))


def get_sp(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    tenant = _tenant(world, p["tenant"])
    sp = tenant.service_principals.get(p["client_id"])
    if sp is None:
        raise ControlError(404, f"no service principal for {p['client_id']!r}")
    return sp_json(sp)


def update_sp(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    tenant = _tenant(world, p["tenant"])
    sp = ensure_service_principal(tenant, _app(world, p["client_id"]).client_id)
    if "assignment_required" in b:
        sp.assignment_required = bool(b["assignment_required"])
    if "assigned_users" in b:
        sp.assigned_user_ids = {_user(tenant, u).id for u in b["assigned_users"]}
    if "mailbox_scope" in b:
        # New-ApplicationAccessPolicy -AccessRight RestrictAccess (or an RBAC for Applications
        # management scope): None lifts the restriction.
        scope = b["mailbox_scope"]
        sp.mailbox_scope = None if scope is None else {_user(tenant, u).id for u in scope}
    return sp_json(sp)


def assign_user(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    tenant = _tenant(world, p["tenant"])
    sp = ensure_service_principal(tenant, _app(world, p["client_id"]).client_id)
    sp.assigned_user_ids.add(_user(tenant, str(b.get("user", ""))).id)
    return sp_json(sp)


def unassign_user(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    tenant = _tenant(world, p["tenant"])
    sp = ensure_service_principal(tenant, _app(world, p["client_id"]).client_id)
    sp.assigned_user_ids.discard(_user(tenant, p["user"]).id)
    return sp_json(sp)


def grant(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    """Grant delegated scopes to a user or AllPrincipals, and/or application roles.

    OIDC scopes (openid, profile, email, offline_access) are granted along, as the portal's
    "Grant admin consent" does for an app that lists them.
    """
    tenant = _tenant(world, p["tenant"])
    app = _app(world, p["client_id"])
    sp = ensure_service_principal(tenant, app.client_id)
    principal = str(b.get("principal", ALL_PRINCIPALS))
    if principal != ALL_PRINCIPALS:
        principal = _user(tenant, principal).id
    scopes = set(b.get("scopes", []))
    if scopes:
        grant_delegated(sp, principal, scopes | OIDC_SCOPES)
    sp.app_roles |= set(b.get("app_roles", []))
    return sp_json(sp)


def revoke_grant(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    """Remove delegated scopes (all when ``scopes`` is absent) and/or application roles."""
    tenant = _tenant(world, p["tenant"])
    sp = ensure_service_principal(tenant, _app(world, p["client_id"]).client_id)
    principal = str(b.get("principal", ALL_PRINCIPALS))
    if principal != ALL_PRINCIPALS:
        principal = _user(tenant, principal).id
    if "scopes" in b:
        sp.delegated_grants.get(principal, set()).difference_update(b["scopes"])
    elif not b.get("app_roles"):
        sp.delegated_grants.pop(principal, None)
    sp.app_roles -= set(b.get("app_roles", []))
    return sp_json(sp)


def list_requests(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    return [request_json(r) for r in _tenant(world, p["tenant"]).consent_requests]


def decide_request(approve: bool) -> Any:
    def decide(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
        tenant = _tenant(world, p["tenant"])
        match = [r for r in tenant.consent_requests if r.id == p["request_id"]]
        if not match:
            raise ControlError(404, f"no consent request {p['request_id']!r}")
        req = match[0]
        if approve:
            # Approving a request is an admin consent for the whole tenant.
            app = _app(world, req.client_id)
            grant_admin_consent(tenant, app, req.scopes | app.delegated_permissions, app_roles=True)
        req.status = "approved" if approve else "denied"
        return request_json(req)

    return decide


def identity_settings(world: World, p: dict[str, str], b: dict[str, Any]) -> Any:
    state = identity_state(world)
    names = (
        "code_lifetime_seconds",
        "access_token_lifetime_seconds",
        "refresh_token_max_inactive_seconds",
    )
    for name in names:
        if name in b:
            setattr(state, name, int(b[name]))
    return {name: getattr(state, name) for name in names}


def routes() -> list[BaseRoute]:
    sp = P + "/tenants/{tenant}/service-principals/{client_id}"
    table: list[tuple[str, Any, str]] = [
        ("/tenants", list_tenants, "GET"),
        ("/tenants", create_tenant, "POST"),
        ("/tenants/{tenant}", get_tenant, "GET"),
        ("/tenants/{tenant}/policy", set_policy, "PATCH"),
        ("/tenants/{tenant}/users", create_user, "POST"),
        ("/tenants/{tenant}/users/bulk", create_users, "POST"),
        ("/tenants/{tenant}/users/{user}", update_user, "PATCH"),
        ("/tenants/{tenant}/users/{user}/revoke-sessions", revoke_sessions, "POST"),
        ("/tenants/{tenant}/rooms", create_room, "POST"),
        ("/tenants/{tenant}/consent-requests", list_requests, "GET"),
        ("/tenants/{tenant}/consent-requests/{request_id}/approve", decide_request(True), "POST"),
        ("/tenants/{tenant}/consent-requests/{request_id}/deny", decide_request(False), "POST"),
        ("/apps", list_apps, "GET"),
        ("/apps", create_app, "POST"),
        ("/apps/{client_id}", get_app, "GET"),
        ("/apps/{client_id}", update_app, "PATCH"),
        ("/apps/{client_id}/addPassword", add_password, "POST"),
        ("/apps/{client_id}/removePassword", remove_password, "POST"),
        ("/apps/{client_id}/certificates", add_certificate, "POST"),
        ("/identity-settings", identity_settings, "PATCH"),
    ]
    result: list[BaseRoute] = [
        Route(P + path, _handler(fn), methods=[method]) for path, fn, method in table
    ]
    result += [
        Route(sp, _handler(get_sp), methods=["GET"]),
        Route(sp, _handler(update_sp), methods=["PATCH"]),
        Route(sp + "/assignments", _handler(assign_user), methods=["POST"]),
        Route(sp + "/assignments/{user}", _handler(unassign_user), methods=["DELETE"]),
        Route(sp + "/grants", _handler(grant), methods=["POST"]),
        Route(sp + "/grants/revoke", _handler(revoke_grant), methods=["POST"]),
    ]
    return result
