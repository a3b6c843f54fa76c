"""Redirects back to the app and the pending interactive flows of the simulated sign-in.

Shared by the authorize and admin-consent endpoints of :mod:`simulator.microsoft.identity`.
Errors Entra cannot send back (unknown client, unregistered redirect URI) are shown on its own
error page; everything else returns to the redirect URI as query parameters or, for
``response_mode=form_post``, as an auto-submitting form.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from simulator.microsoft import identity_errors as errs
from simulator.microsoft import identity_pages as pages
from simulator.microsoft.directory import MsUser, Tenant, directory
from simulator.microsoft.identity_state import (
    AuthCode,
    PendingFlow,
    identity_state,
    new_secret,
    normalize_scopes,
)
from simulator.world import World


def send_back(redirect_uri: str, response_mode: str, params: dict[str, str]) -> Response:
    if response_mode == "form_post":
        return pages.form_post_page(redirect_uri, params)
    sep = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{sep}{urlencode(params)}", status_code=302)


def error_back(world: World, flow: PendingFlow, err: errs.AadError, **extra: str) -> Response:
    params = dict(extra)
    params.update(errs.redirect_error_params(world, err))
    if "state" in flow.params:
        params["state"] = flow.params["state"]
    return send_back(flow.params["redirect_uri"], flow.params.get("response_mode", "query"), params)


def issue_code(world: World, flow: PendingFlow, user: MsUser, tenant: Tenant) -> Response:
    state = identity_state(world)
    code = AuthCode(
        code=new_secret(48),
        client_id=flow.params["client_id"],
        tenant_id=tenant.id,
        user_id=user.id,
        redirect_uri=flow.params["redirect_uri"],
        scopes=normalize_scopes(flow.params.get("scope", "")),
        nonce=flow.params.get("nonce"),
        code_challenge=flow.params.get("code_challenge"),
        code_challenge_method=flow.params.get("code_challenge_method"),
        issued_at=world.timestamp(),
        # The interactive sign-in performs MFA when the tenant requires it.
        mfa_done=tenant.policy.mfa_required,
    )
    state.codes[code.code] = code
    state.flows.pop(flow.id, None)
    params = {"code": code.code}
    if "state" in flow.params:
        params["state"] = flow.params["state"]
    params["session_state"] = hashlib.sha256(user.id.encode()).hexdigest()[:36]
    return send_back(code.redirect_uri, flow.params.get("response_mode", "query"), params)


def validate_client(world: World, params: dict[str, str]) -> Response | None:
    """Errors Entra shows on its own page because the redirect URI cannot be trusted."""
    app = directory(world).apps.get(params.get("client_id", ""))
    if app is None:
        return pages.error_page(error_text(world, errs.unknown_client(params.get("client_id", ""))))
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return pages.error_page(
            error_text(world, errs.redirect_mismatch(redirect_uri, app.client_id))
        )
    return None


def error_text(world: World, err: errs.AadError) -> str:
    return errs.redirect_error_params(world, err)["error_description"]


def new_flow(world: World, kind: Any, tenant_key: str, params: dict[str, str]) -> PendingFlow:
    flow = PendingFlow(id=new_secret(16), kind=kind, tenant_key=tenant_key, params=params)
    identity_state(world).flows[flow.id] = flow
    return flow


def login_url(world: World, flow: PendingFlow) -> str:
    return f"{world.base_url}/{flow.tenant_key}/login"


def sign_in(world: World, flow: PendingFlow, error: str | None = None) -> Response:
    app = directory(world).apps[flow.params["client_id"]]
    hint = flow.params.get("login_hint", "")
    return pages.sign_in_page(login_url(world, flow), flow.id, app.display_name, hint, error)
