"""The token endpoint of the simulated identity platform: ``POST /{tenant}/oauth2/v2.0/token``.

Grants (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow and
v2-oauth2-client-creds-grant-flow):

* ``authorization_code``: single-use code (AADSTS54005 on reuse), 10-minute life (AADSTS70008),
  same redirect URI as the authorize request (AADSTS50011), PKCE S256 verifier (AADSTS501481);
* ``refresh_token``: rotating; revoked (AADSTS50173), inactive (AADSTS700082), MFA now required
  (AADSTS50076), Conditional Access (AADSTS53003), consent or assignment withdrawn (AADSTS65001,
  AADSTS50105);
* ``client_credentials``: ``https://graph.microsoft.com/.default`` gives an app-only Graph token
  with the service principal's app roles; ``https://vault.azure.net/.default`` a Key Vault token.

Client authentication: ``client_secret`` in the body or HTTP Basic (msal sends the body form);
a wrong secret is AADSTS7000215 (401 invalid_client).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator import tokens
from simulator.microsoft import client_auth
from simulator.microsoft import identity_errors as errs
from simulator.microsoft.directory import AppRegistration, MsUser, Tenant, directory
from simulator.microsoft.identity_state import (
    OIDC_SCOPES,
    RefreshToken,
    delegated_request,
    identity_state,
    missing_consent,
    new_secret,
    normalize_scopes,
)
from simulator.world import World

KEYVAULT_AUDIENCE = "https://vault.azure.net"
GENERIC_TENANTS = ("common", "organizations")
_HEADERS = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


class TokenError(Exception):
    def __init__(self, err: errs.AadError) -> None:
        super().__init__(err.message)
        self.err = err


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _authenticate_client(world: World, request: Request, form: dict[str, str]) -> AppRegistration:
    client_id, secret = form.get("client_id", ""), form.get("client_secret")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        decoded = base64.b64decode(header[6:]).decode()
        basic_id, _, basic_secret = decoded.partition(":")
        client_id = client_id or unquote_plus(basic_id)
        secret = secret or unquote_plus(basic_secret)
    if not client_id:
        raise TokenError(errs.missing_parameter("client_id"))
    app = directory(world).apps.get(client_id)
    if app is None:
        raise TokenError(errs.unknown_client(client_id))
    assertion = form.get("client_assertion")
    if assertion and form.get("client_assertion_type") == client_auth.JWT_BEARER:
        failure = client_auth.check_assertion(world, app, assertion)
        if failure is not None:
            raise TokenError(failure)
        return app
    has_credentials = bool(app.client_secret or app.password_credentials or app.key_credentials)
    if secret:
        # A secret sent is always checked: one deleted in the portal is refused (7000215).
        failure = client_auth.check_secret(world, app, secret)
        if failure is not None:
            raise TokenError(failure)
    elif has_credentials or form.get("grant_type") == "client_credentials":
        raise TokenError(errs.missing_client_secret())
    return app


def _check_path_tenant(world: World, key: str, tenant_id: str) -> None:
    if key in GENERIC_TENANTS:
        return
    tenant = directory(world).tenant(key)
    if tenant is None:
        raise TokenError(errs.tenant_not_found(key))
    if tenant.id != tenant_id:
        raise TokenError(errs.wrong_tenant_for_code())


def _user_tokens(
    world: World,
    app: AppRegistration,
    tenant: Tenant,
    user: MsUser,
    scopes: list[str],
    *,
    nonce: str | None,
    mfa_done: bool,
) -> dict[str, Any]:
    """The token response for a user: access token, rotated refresh token, id token."""
    state = identity_state(world)
    sp = tenant.service_principals.get(app.client_id)
    granted_all = sp.granted_for(user.id) if sp is not None else set()
    graph_scopes = sorted(
        s for s in delegated_request(app, scopes) - OIDC_SCOPES if s in granted_all
    )
    lifetime = state.access_token_lifetime_seconds
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join(
            graph_scopes + [s for s in scopes if s in ("openid", "profile", "email")]
        ),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": tokens.issue_microsoft_access_token(
            world,
            tenant_id=tenant.id,
            client_id=app.client_id,
            user_id=user.id,
            user_principal_name=user.user_principal_name,
            scopes=graph_scopes,
            lifetime_seconds=lifetime,
        ),
    }
    if "offline_access" in scopes:
        now = world.timestamp()
        refresh = RefreshToken(
            token="1." + new_secret(96),
            client_id=app.client_id,
            tenant_id=tenant.id,
            user_id=user.id,
            scopes=list(scopes),
            issued_at=now,
            last_used_at=now,
            mfa_done=mfa_done,
        )
        state.refresh_tokens[refresh.token] = refresh
        body["refresh_token"] = refresh.token
    if "openid" in scopes:
        claims: dict[str, Any] = {
            "iss": f"{world.base_url}/{tenant.id}/v2.0",
            "aud": app.client_id,
            "tid": tenant.id,
            "oid": user.id,
            # sub is pairwise: stable per user and app, different across apps.
            "sub": _b64url(hashlib.sha256(f"{user.id}:{app.client_id}".encode()).digest()),
            "preferred_username": user.user_principal_name,
            "name": user.display_name,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        if "email" in scopes:
            claims["email"] = user.mail
        body["id_token"] = tokens.issue(world, claims, lifetime)
        # client_info lets msal key its cache by home account (uid.utid).
        info = {"uid": user.id, "utid": user.tenant_id}
        body["client_info"] = _b64url(json.dumps(info).encode())
    return body


def _authorization_code(
    world: World, app: AppRegistration, key: str, form: dict[str, str]
) -> dict[str, Any]:
    state = identity_state(world)
    value = form.get("code", "")
    if not value:
        raise TokenError(errs.missing_parameter("code"))
    code = state.codes.get(value)
    if code is None or code.client_id != app.client_id:
        raise TokenError(errs.invalid_grant_malformed())
    if code.redeemed:
        raise TokenError(errs.code_redeemed())
    if world.timestamp() - code.issued_at > state.code_lifetime_seconds:
        raise TokenError(errs.code_expired())
    _check_path_tenant(world, key, code.tenant_id)
    if form.get("redirect_uri", "") != code.redirect_uri:
        raise TokenError(errs.redirect_mismatch(form.get("redirect_uri", ""), app.client_id))
    if code.code_challenge:
        verifier = form.get("code_verifier", "")
        digest = _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if not verifier or digest != code.code_challenge:
            raise TokenError(errs.pkce_mismatch())
    code.redeemed = True
    dir_ = directory(world)
    tenant, user = dir_.tenants[code.tenant_id], dir_.find_user_anywhere(code.user_id)
    if user is None:
        raise TokenError(errs.invalid_grant_malformed())
    return _user_tokens(
        world, app, tenant, user, code.scopes, nonce=code.nonce, mfa_done=code.mfa_done
    )


def _refresh(world: World, app: AppRegistration, key: str, form: dict[str, str]) -> dict[str, Any]:
    state = identity_state(world)
    value = form.get("refresh_token", "")
    if not value:
        raise TokenError(errs.missing_parameter("refresh_token"))
    rt = state.refresh_tokens.get(value)
    if rt is None or rt.client_id != app.client_id:
        raise TokenError(errs.invalid_grant_malformed())
    _check_path_tenant(world, key, rt.tenant_id)
    dir_ = directory(world)
    tenant, user = dir_.tenants[rt.tenant_id], dir_.find_user_anywhere(rt.user_id)
    if user is None:
        raise TokenError(errs.invalid_grant_malformed())
    if not user.account_enabled:
        raise TokenError(errs.user_disabled())
    now = world.timestamp()
    valid_from = state.tokens_valid_from.get(user.id)
    if rt.revoked or (valid_from is not None and rt.issued_at < valid_from):
        raise TokenError(errs.grant_revoked(_iso(rt.issued_at), _iso(valid_from or now)))
    if rt.retired:
        raise TokenError(errs.refresh_token_used())
    inactive = now - rt.last_used_at
    if inactive > state.refresh_token_max_inactive_seconds:
        days = int(inactive // 86400)
        hours = int(inactive % 86400 // 3600)
        raise TokenError(
            errs.refresh_token_inactive(_iso(rt.issued_at), f"{days}.{hours:02}:00:00")
        )
    if tenant.policy.conditional_access_block:
        raise TokenError(errs.blocked_by_conditional_access(at_token=True))
    if tenant.policy.mfa_required and not rt.mfa_done:
        raise TokenError(errs.mfa_required(tokens.GRAPH_AUDIENCE))
    sp = tenant.service_principals.get(app.client_id)
    if sp is not None and sp.assignment_required and user.id not in sp.assigned_user_ids:
        raise TokenError(
            errs.user_not_assigned_grant(user.user_principal_name, app.client_id, app.display_name)
        )
    scopes = normalize_scopes(form["scope"]) if form.get("scope") else list(rt.scopes)
    if missing_consent(sp, user.id, delegated_request(app, scopes) - OIDC_SCOPES):
        raise TokenError(errs.consent_not_granted(app.client_id, app.display_name, at_token=True))
    if "offline_access" not in scopes:
        scopes.append("offline_access")
    rt.retired = True
    rt.last_used_at = now
    return _user_tokens(world, app, tenant, user, scopes, nonce=None, mfa_done=rt.mfa_done)


def _client_credentials(
    world: World, app: AppRegistration, key: str, form: dict[str, str]
) -> dict[str, Any]:
    if key in GENERIC_TENANTS:
        raise TokenError(errs.grant_not_on_common())
    tenant = directory(world).tenant(key)
    if tenant is None:
        raise TokenError(errs.tenant_not_found(key))
    scope = form.get("scope", "").strip()
    if not scope:
        raise TokenError(errs.missing_parameter("scope"))
    if scope.rstrip("/") in (f"{tokens.GRAPH_AUDIENCE}/.default",):
        audience = tokens.GRAPH_AUDIENCE
    elif scope in (f"{KEYVAULT_AUDIENCE}/.default", f"{KEYVAULT_AUDIENCE}//.default"):
        audience = KEYVAULT_AUDIENCE
    else:
        raise TokenError(errs.invalid_scope(scope))
    if app.home_tenant_id and app.home_tenant_id != tenant.id:
        raise TokenError(errs.app_not_in_tenant(app.client_id, tenant.display_name))
    sp = tenant.service_principals.get(app.client_id)
    if sp is None:
        raise TokenError(errs.app_not_in_tenant(app.client_id, tenant.display_name))
    if tenant.policy.conditional_access_block:
        raise TokenError(errs.blocked_by_conditional_access(at_token=True))
    # Without admin consent Entra still issues a token, only without roles (Graph then says 403).
    roles = sorted(sp.app_roles) if audience == tokens.GRAPH_AUDIENCE else []
    lifetime = identity_state(world).access_token_lifetime_seconds
    return {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": tokens.issue_microsoft_access_token(
            world,
            tenant_id=tenant.id,
            client_id=app.client_id,
            audience=audience,
            roles=roles,
            lifetime_seconds=lifetime,
        ),
    }


_GRANTS = {
    "authorization_code": _authorization_code,
    "refresh_token": _refresh,
    "client_credentials": _client_credentials,
}


async def token_endpoint(request: Request) -> Response:
    world: World = request.app.state.world
    form = {k: str(v) for k, v in (await request.form()).items()}
    key = request.path_params["tenant"]
    with world.lock:
        try:
            grant = form.get("grant_type", "")
            handler = _GRANTS.get(grant)
            if handler is None:
                if not grant:
                    raise TokenError(errs.missing_parameter("grant_type"))
                raise TokenError(errs.unsupported_grant_type(grant))
            app = _authenticate_client(world, request, form)
            body = handler(world, app, key, form)
        except TokenError as exc:
            return JSONResponse(
                errs.token_error_body(world, exc.err), exc.err.status, headers=_HEADERS
            )
    return JSONResponse(body, headers=_HEADERS)
