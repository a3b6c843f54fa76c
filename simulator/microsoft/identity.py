"""The simulated Microsoft identity platform (login.microsoftonline.com), the msal authority.

URL map (``base`` = the simulator, ``{tenant}`` = a tenant id, one of its domains, ``common`` or
``organizations``), as in https://learn.microsoft.com/entra/identity-platform/v2-protocols::

    GET  base/{tenant}/v2.0/.well-known/openid-configuration   OpenID discovery (msal reads it)
    GET  base/{tenant}/discovery/v2.0/keys                      JWKS
    GET  base/{tenant}/oauth2/v2.0/authorize                    sign-in + consent (HTML)
    POST base/{tenant}/login                                    the HTML forms post here
    POST base/{tenant}/oauth2/v2.0/token                        see identity_token.py
    GET  base/{tenant}/adminconsent                             v1 admin consent
    GET  base/{tenant}/v2.0/adminconsent                        v2 admin consent

The authorize endpoint evaluates, in Entra's order, the tenant policies that seed 000 describes:
guest access (AADSTS50020), single-tenant app from another tenant (AADSTS700016), Conditional
Access (AADSTS53003), user assignment (AADSTS50105), then consent: none needed -> straight back
with a code; user may consent -> "Permissions requested"; otherwise "Need admin approval"
(AADSTS90094 when the user returns, or a consent request when the admin consent workflow is on).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator import tokens
from simulator.microsoft import identity_errors as errs
from simulator.microsoft import identity_pages as pages
from simulator.microsoft.directory import (
    ConsentRequest,
    Directory,
    MsUser,
    Tenant,
    directory,
)
from simulator.microsoft.identity_flow import (
    error_back,
    error_text,
    issue_code,
    login_url,
    new_flow,
    send_back,
    sign_in,
    validate_client,
)
from simulator.microsoft.identity_state import (
    OIDC_SCOPES,
    PendingFlow,
    delegated_request,
    ensure_service_principal,
    grant_admin_consent,
    grant_delegated,
    identity_state,
    missing_consent,
    new_secret,
    normalize_scopes,
    user_may_consent,
)
from simulator.microsoft.identity_token import token_endpoint
from simulator.world import World

GENERIC_TENANTS = ("common", "organizations")
SESSION_COOKIE = "sim_estsauth"


def _resolve_tenant(dir_: Directory, key: str) -> Tenant | None:
    return None if key in GENERIC_TENANTS else dir_.tenant(key)


def _issuer(world: World, tenant_id: str) -> str:
    return f"{world.base_url}/{tenant_id}/v2.0"


def openid_configuration(request: Request) -> Response:
    world: World = request.app.state.world
    key = request.path_params["tenant"]
    tenant = _resolve_tenant(directory(world), key)
    if tenant is None and key not in GENERIC_TENANTS:
        return JSONResponse(errs.token_error_body(world, errs.tenant_not_found(key)), 400)
    base = f"{world.base_url}/{key}"
    # For common/organizations Entra publishes the literal "{tenantid}" placeholder issuer.
    issuer = _issuer(world, tenant.id if tenant else "{tenantid}")
    return JSONResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }
    )


def jwks(request: Request) -> Response:
    return JSONResponse(tokens.registry(request.app.state.world).jwks())


def _session_user(request: Request) -> MsUser | None:
    world: World = request.app.state.world
    user_id = identity_state(world).sessions.get(request.cookies.get(SESSION_COOKIE, ""))
    return directory(world).find_user_anywhere(user_id) if user_id else None


async def authorize(request: Request) -> Response:
    world: World = request.app.state.world
    params = dict(request.query_params)
    key = request.path_params["tenant"]
    with world.lock:
        if key not in GENERIC_TENANTS and directory(world).tenant(key) is None:
            return pages.error_page(error_text(world, errs.tenant_not_found(key)))
        invalid = validate_client(world, params)
        if invalid is not None:
            return invalid
        flow = new_flow(world, "authorize", key, params)
        if params.get("response_type") != "code":
            return error_back(
                world, flow, errs.unsupported_response_type(params.get("response_type", ""))
            )
        if not params.get("scope"):
            return error_back(world, flow, errs.missing_parameter("scope"))
        # msal always sends PKCE (S256); the simulator requires it so a client that drops it
        # is caught in tests.
        if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            return error_back(world, flow, errs.pkce_required())
        prompt = params.get("prompt", "")
        user = _session_user(request)
        hint = params.get("login_hint", "").lower()
        if user is not None and hint and hint not in (user.user_principal_name.lower(),):
            user = None
        if prompt in ("login", "select_account"):
            user = None
        if user is None:
            if prompt == "none":
                return error_back(world, flow, errs.login_required())
            return sign_in(world, flow)
        return _after_sign_in(world, flow, user)


def _target_tenant(world: World, flow: PendingFlow, user: MsUser) -> Tenant:
    dir_ = directory(world)
    if flow.tenant_key in GENERIC_TENANTS:
        return dir_.tenants[user.tenant_id]
    tenant = dir_.tenant(flow.tenant_key)
    assert tenant is not None  # checked when the flow started
    return tenant


def _after_sign_in(world: World, flow: PendingFlow, user: MsUser) -> Response:
    """Apply the tenant's policies to a signed-in user: redirect, or show the next page."""
    dir_ = directory(world)
    app = dir_.apps[flow.params["client_id"]]
    tenant = _target_tenant(world, flow, user)
    flow.user_id, flow.tenant_id = user.id, tenant.id
    admin_flow = flow.kind == "adminconsent"
    extra = {"admin_consent": "True", "tenant": tenant.id} if admin_flow else {}
    if user.tenant_id != tenant.id and (tenant.policy.guests_blocked or admin_flow):
        err = errs.guest_blocked(user.mail, user.tenant_id, tenant.display_name, app.client_id)
        return error_back(world, flow, err, **extra)
    if app.home_tenant_id and app.home_tenant_id != tenant.id:
        err = errs.app_not_in_tenant(app.client_id, tenant.display_name)
        return error_back(world, flow, err, **extra)
    if tenant.policy.conditional_access_block:
        return error_back(world, flow, errs.blocked_by_conditional_access(at_token=False), **extra)
    scopes = normalize_scopes(flow.params.get("scope", ".default" if admin_flow else ""))
    if admin_flow:
        if not user.is_admin:
            return error_back(
                world, flow, errs.admin_consent_needs_admin(app.display_name), **extra
            )
        listed = sorted(delegated_request(app, scopes) - OIDC_SCOPES)
        if flow.params.get("v1") or ".default" in scopes:
            listed += sorted(f"{p} (application)" for p in app.application_permissions)
        return pages.consent_page(
            login_url(world, flow),
            flow.id,
            app.display_name,
            user.user_principal_name,
            listed,
            offer_org_consent=False,
            admin_consent=True,
        )
    sp = tenant.service_principals.get(app.client_id)
    if sp is not None and sp.assignment_required and user.id not in sp.assigned_user_ids:
        err = errs.user_not_assigned(user.user_principal_name, app.client_id, app.display_name)
        return error_back(world, flow, err)
    wanted = delegated_request(app, scopes)
    missing = missing_consent(sp, user.id, wanted)
    prompt = flow.params.get("prompt", "")
    if not missing and prompt != "consent":
        return issue_code(world, flow, user, tenant)
    if prompt == "none":
        return error_back(
            world, flow, errs.consent_not_granted(app.client_id, app.display_name, at_token=False)
        )
    listed = sorted(wanted if prompt == "consent" else missing)
    if user.is_admin or user_may_consent(tenant.policy, missing):
        return pages.consent_page(
            login_url(world, flow),
            flow.id,
            app.display_name,
            user.user_principal_name,
            listed,
            offer_org_consent=user.is_admin,
        )
    return pages.approval_page(
        login_url(world, flow),
        flow.id,
        app.display_name,
        user.user_principal_name,
        listed,
        can_request=tenant.policy.admin_consent_workflow,
    )


# --- the form posts ----------------------------------------------------------------------------


async def login_post(request: Request) -> Response:
    world: World = request.app.state.world
    form = await request.form()
    fields = {k: str(v) for k, v in form.items()}
    with world.lock:
        flow = identity_state(world).flows.get(fields.get("flow", ""))
        if flow is None:
            return pages.error_page("AADSTS90014: The sign-in session has expired; start again.")
        action = fields.get("action", "")
        if action == "signin":
            return _post_sign_in(world, flow, fields.get("email", "").strip())
        dir_ = directory(world)
        user = dir_.find_user_anywhere(flow.user_id or "")
        tenant = dir_.tenants.get(flow.tenant_id or "")
        if user is None or tenant is None:
            return sign_in(world, flow)
        if flow.kind == "adminconsent":
            return _admin_consent_decision(world, flow, user, tenant, action)
        return _user_decision(world, flow, user, tenant, action, fields)


def _post_sign_in(world: World, flow: PendingFlow, email: str) -> Response:
    user = directory(world).find_user_anywhere(email) if email else None
    if user is None or user.kind != "user":
        # AADSTS50034 as Entra's sign-in page words it.
        return sign_in(
            world,
            flow,
            "This username may be incorrect. Make sure you typed it correctly. Otherwise, "
            "contact your admin.",
        )
    if not user.account_enabled:
        # Entra shows AADSTS50057 on its own page; the app is not told.
        return sign_in(world, flow, error_text(world, errs.user_disabled()))
    response = _after_sign_in(world, flow, user)
    session = new_secret(16)
    identity_state(world).sessions[session] = user.id
    response.set_cookie(SESSION_COOKIE, session, secure=True, httponly=True, samesite="none")
    return response


def _user_decision(
    world: World,
    flow: PendingFlow,
    user: MsUser,
    tenant: Tenant,
    action: str,
    fields: dict[str, str],
) -> Response:
    app = directory(world).apps[flow.params["client_id"]]
    wanted = delegated_request(app, normalize_scopes(flow.params.get("scope", "")))
    sp = tenant.service_principals.get(app.client_id)
    missing = missing_consent(sp, user.id, wanted)
    if action == "accept":
        if user.is_admin and fields.get("consent_for_org") == "true":
            grant_admin_consent(
                tenant, app, wanted, app_roles=".default" in flow.params.get("scope", "")
            )
        elif user.is_admin or user_may_consent(tenant.policy, missing):
            grant_delegated(ensure_service_principal(tenant, app.client_id), user.id, wanted)
        else:
            return error_back(
                world, flow, errs.admin_approval_required(tenant.display_name, app.display_name)
            )
        return issue_code(world, flow, user, tenant)
    if action == "cancel":
        return error_back(world, flow, errs.user_declined())
    if action == "request" and tenant.policy.admin_consent_workflow:
        already = any(
            r.client_id == app.client_id and r.user_id == user.id and r.status == "pending"
            for r in tenant.consent_requests
        )
        if not already:
            tenant.consent_requests.append(
                ConsentRequest(
                    id=new_secret(12), client_id=app.client_id, user_id=user.id, scopes=missing
                )
            )
        return pages.request_sent_page(login_url(world, flow), flow.id, app.display_name)
    return error_back(
        world, flow, errs.admin_approval_required(tenant.display_name, app.display_name)
    )


# --- admin consent -----------------------------------------------------------------------------


def _admin_consent(v1: bool):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        world: World = request.app.state.world
        params = dict(request.query_params)
        key = request.path_params["tenant"]
        with world.lock:
            if key not in GENERIC_TENANTS and directory(world).tenant(key) is None:
                return pages.error_page(error_text(world, errs.tenant_not_found(key)))
            invalid = validate_client(world, params)
            if invalid is not None:
                return invalid
            if v1:
                params["v1"] = "1"
            flow = new_flow(world, "adminconsent", key, params)
            return sign_in(world, flow)

    return endpoint


def _admin_consent_decision(
    world: World, flow: PendingFlow, user: MsUser, tenant: Tenant, action: str
) -> Response:
    app = directory(world).apps[flow.params["client_id"]]
    extra = {"admin_consent": "True", "tenant": tenant.id}
    if action != "accept":
        # A cancelled admin consent comes back as access_denied / AADSTS65004.
        return error_back(world, flow, errs.user_declined(), error_subcode="cancel", **extra)
    scopes = normalize_scopes(flow.params.get("scope", ".default"))
    v1 = bool(flow.params.get("v1"))
    grant_admin_consent(
        tenant, app, delegated_request(app, scopes), app_roles=v1 or ".default" in scopes
    )
    identity_state(world).flows.pop(flow.id, None)
    params = dict(extra)
    if not v1:
        params["scope"] = flow.params.get("scope", "")
    if "state" in flow.params:
        params["state"] = flow.params["state"]
    return send_back(flow.params["redirect_uri"], "query", params)


def routes(world: World) -> list[BaseRoute]:
    """The identity platform's routes; listed last because they start with a tenant segment."""
    return [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
        Route("/{tenant}/discovery/v2.0/keys", jwks),
        Route("/{tenant}/discovery/keys", jwks),
        Route("/{tenant}/oauth2/v2.0/authorize", authorize),
        Route("/{tenant}/login", login_post, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/token", token_endpoint, methods=["POST"]),
        Route("/{tenant}/adminconsent", _admin_consent(v1=True)),
        Route("/{tenant}/v2.0/adminconsent", _admin_consent(v1=False)),
    ]
