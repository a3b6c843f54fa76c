"""Google's authorization endpoint: the sign-in and consent page, and its errors.

``GET {base}/google/o/oauth2/auth`` (also ``/o/oauth2/v2/auth``) mirrors
accounts.google.com/o/oauth2/v2/auth. Request errors Google shows on its own page, never at the
redirect URI (web-server flow guide, "Authorization errors"): unknown client (``invalid_client``),
unregistered redirect URI (``redirect_uri_mismatch``), missing parameters (``invalid_request``).

The consent page is a form (``POST`` to the same URL) with the fields ``request_id``,
``email``, ``scope`` (repeated: the scopes the person leaves ticked, Google's granular consent;
sign-in scopes are always granted) and ``action`` (``allow`` or ``cancel``). Outcomes:

- allow: 302 to ``redirect_uri?code=...&scope=...&authuser=0&hd=...&prompt=consent&state=...``;
- cancel: 302 to ``redirect_uri?error=access_denied&state=...``;
- internal app, user of another organisation: page "Error 403: org_internal";
- app blocked by the user's Workspace admin (trust ``blocked``, ``limited`` with an Admin SDK
  scope requested, or unconfigured while the domain blocks unconfigured apps):
  ``admin_policy_enforced`` with the description Google sends (oauthlib/oauthlib#707) at the
  redirect URI, or Google's page "Access blocked: <org> has not granted access to this app"
  (the domain's ``block_response`` chooses);
- context-aware access blocks the user: ``access_denied`` with a context-aware description at
  the redirect URI, or a block page (same switch). Google does not document this case for OAuth;
  the simulator's choice is recorded in tests/simulator/payloads/google/authorization_errors.json.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.google.state import (
    ADMIN_SCOPE_PREFIX,
    BASIC_SCOPES,
    AuthCode,
    AuthRequest,
    Domain,
    google,
    random_token,
)
from simulator.world import World

CODE_LIFETIME = 600
ADMIN_POLICY_DESCRIPTION = (
    "Access to your account data is restricted by policies within your organization. "
    "Please contact administrator for more information."
)
CONTEXT_AWARE_DESCRIPTION = (
    "Access to this app is blocked by your organization's context-aware access policy."
)


def error_page(status: int, code: str, title: str, detail: str) -> HTMLResponse:
    """Google's user-facing error page ("Error <status>: <code>")."""
    body = (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>"
        f'<p id="error-code">Error {status}: {html.escape(code)}</p></body></html>'
    )
    response = HTMLResponse(body, status_code=status)
    response.headers["X-Sim-Google-Error"] = code
    return response


def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(uri + ("&" if "?" in uri else "?") + query, status_code=302)


def _consent_page(world: World, req: AuthRequest, client_name: str) -> HTMLResponse:
    scopes = "".join(
        f'<label><input type="checkbox" name="scope" value="{html.escape(s)}" checked'
        f"{' disabled' if s in BASIC_SCOPES else ''}> {html.escape(s)}</label><br>"
        for s in req.scopes
    )
    body = (
        "<!doctype html><html><head><title>Sign in - Google Accounts</title></head><body>"
        f"<h1>Sign in to continue to {html.escape(client_name)}</h1>"
        f'<form method="post" action="{world.base_url}/google/o/oauth2/auth">'
        f'<input type="hidden" name="request_id" value="{req.id}">'
        f'<label>Email <input name="email" value="{html.escape(req.login_hint or "")}"></label>'
        f"<p>{html.escape(client_name)} wants to access your Google Account:</p>{scopes}"
        '<button name="action" value="allow">Allow</button>'
        '<button name="action" value="cancel">Cancel</button></form></body></html>'
    )
    return HTMLResponse(body)


def _blocked(
    domain: Domain, req: AuthRequest, error: str, description: str, title: str
) -> Response:
    if domain.block_response == "page":
        status = 400 if error == "admin_policy_enforced" else 403
        return error_page(status, error, title, description)
    return _redirect(
        req.redirect_uri,
        {"error": error, "error_description": description, "state": req.state},
    )


def routes(world: World) -> list[BaseRoute]:
    """The authorization endpoint (GET: validate and show the page; POST: the person's answer)."""

    async def authorize(request: Request) -> Response:
        if request.method == "POST":
            return await answer(request)
        q = request.query_params
        state = google(world)
        with world.lock:
            client = state.clients.get(q.get("client_id", ""))
            if client is None:
                return error_page(
                    401,
                    "invalid_client",
                    "Access blocked: Authorization Error",
                    "The OAuth client was not found.",
                )
            redirect_uri = q.get("redirect_uri", "")
            if redirect_uri not in client.redirect_uris:
                return error_page(
                    400,
                    "redirect_uri_mismatch",
                    "Access blocked: This app's request is invalid",
                    f"redirect_uri={redirect_uri}",
                )
            if q.get("response_type") != "code":
                return error_page(
                    400,
                    "invalid_request",
                    "Access blocked: Authorization Error",
                    "Invalid response_type: only 'code' is supported.",
                )
            if not q.get("scope"):
                return error_page(
                    400,
                    "invalid_request",
                    "Access blocked: Authorization Error",
                    "Missing required parameter: scope",
                )
            method = q.get("code_challenge_method")
            if q.get("code_challenge") and method not in (None, "S256", "plain"):
                return error_page(
                    400,
                    "invalid_request",
                    "Access blocked: Authorization Error",
                    "Invalid code_challenge_method value.",
                )
            req = AuthRequest(
                id=random_token("", 16),
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                scopes=q["scope"].split(),
                state=q.get("state"),
                access_type=q.get("access_type", "online"),
                login_hint=q.get("login_hint"),
                code_challenge=q.get("code_challenge"),
                code_challenge_method=method or ("plain" if q.get("code_challenge") else None),
                include_granted_scopes=q.get("include_granted_scopes") == "true",
                nonce=q.get("nonce"),
            )
            state.auth_requests[req.id] = req
            return _consent_page(world, req, client.name)

    async def answer(request: Request) -> Response:
        form = await request.form()
        state = google(world)
        with world.lock:
            req = state.auth_requests.pop(str(form.get("request_id", "")), None)
            if req is None:
                return error_page(
                    400,
                    "invalid_request",
                    "Something went wrong",
                    "This sign-in request has expired. Start again.",
                )
            if form.get("action") != "allow":
                return _redirect(req.redirect_uri, {"error": "access_denied", "state": req.state})
            email = str(form.get("email", "")).strip().lower()
            user = state.find_user(email)
            domain = state.domain_of(email)
            if user is None or domain is None:
                return error_page(
                    400, "invalid_request", "Couldn't find your Google Account", email
                )
            client = state.clients[req.client_id]
            if client.internal_domain and client.internal_domain != domain.domain:
                return error_page(
                    403,
                    "org_internal",
                    f"Access blocked: {client.name} can only be used within its organization",
                    "This client is restricted to users within its organization.",
                )
            trust = domain.trust_of(client.client_id)
            admin_scope = any(s.startswith(ADMIN_SCOPE_PREFIX) for s in req.scopes)
            if (
                trust == "blocked"
                or (trust == "limited" and admin_scope)
                or (trust == "unconfigured" and domain.block_unconfigured_apps)
            ):
                return _blocked(
                    domain,
                    req,
                    "admin_policy_enforced",
                    ADMIN_POLICY_DESCRIPTION,
                    f"Access blocked: {domain.name} has not granted access to this app",
                )
            if domain.context_aware_block:
                return _blocked(
                    domain,
                    req,
                    "access_denied",
                    CONTEXT_AWARE_DESCRIPTION,
                    "Access denied: your organization's policy blocks this app",
                )
            ticked = {str(s) for s in form.getlist("scope")}
            granted = [s for s in req.scopes if s in BASIC_SCOPES or s in ticked]
            code = AuthCode(
                code=random_token("4/0A", 32),
                client_id=req.client_id,
                redirect_uri=req.redirect_uri,
                user_email=user.email,
                scopes=granted,
                code_challenge=req.code_challenge,
                code_challenge_method=req.code_challenge_method,
                offline=req.access_type == "offline",
                nonce=req.nonce,
                expires_at=world.timestamp() + CODE_LIFETIME,
                include_granted_scopes=req.include_granted_scopes,
            )
            state.codes[code.code] = code
            return _redirect(
                req.redirect_uri,
                {
                    "state": req.state,
                    "code": code.code,
                    "scope": " ".join(granted),
                    "authuser": "0",
                    "hd": domain.domain,
                    "prompt": "consent",
                },
            )

    return [
        Route("/google/o/oauth2/auth", authorize, methods=["GET", "POST"]),
        Route("/google/o/oauth2/v2/auth", authorize, methods=["GET", "POST"]),
    ]
