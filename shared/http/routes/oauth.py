"""Provider-facing OAuth callbacks: anonymous, verified by the signed single-use state and PKCE."""

from __future__ import annotations

from shared.consent.callbacks import CallbackOutcome
from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.http.flows import callbacks

bp = ApiBlueprint("oauth")

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _reply(outcome: CallbackOutcome) -> Reply:
    cookies = {"Set-Cookie": outcome.set_cookies[0]} if outcome.set_cookies else {}
    if outcome.location is not None:
        reply = Reply.redirect(outcome.location)
        reply.headers.update(_NO_STORE)
        reply.headers.update(cookies)
        return reply
    return Reply(
        status=outcome.status,
        body=outcome.page or "",
        content_type="text/html; charset=utf-8",
        headers={
            **_NO_STORE,
            **cookies,
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


@bp.api(
    "oauth/microsoft/callback",
    name="oauth_microsoft_callback",
    auth="anonymous",
    summary="Microsoft identity platform redirect (authorization code or error)",
    status=302,
    content_type="text/html",
)
def oauth_microsoft_callback(request: ApiRequest) -> Reply:
    return _reply(
        callbacks(request.services).oauth(
            "microsoft", request.params, request.headers.get("cookie", "")
        )
    )


@bp.api(
    "oauth/google/callback",
    name="oauth_google_callback",
    auth="anonymous",
    summary="Google OAuth redirect (authorization code or error)",
    status=302,
    content_type="text/html",
)
def oauth_google_callback(request: ApiRequest) -> Reply:
    return _reply(
        callbacks(request.services).oauth(
            "google", request.params, request.headers.get("cookie", "")
        )
    )


@bp.api(
    "oauth/microsoft/admin-consent",
    name="oauth_microsoft_admin_consent",
    auth="anonymous",
    summary="Microsoft admin-consent redirect (admin_consent=True&tenant=... or error)",
    status=302,
    content_type="text/html",
)
def oauth_microsoft_admin_consent(request: ApiRequest) -> Reply:
    return _reply(callbacks(request.services).admin_consent(request.params))
