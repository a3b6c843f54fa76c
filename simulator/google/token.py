"""Google's token, revocation, userinfo and discovery endpoints.

``POST {base}/google/token`` (mirrors oauth2.googleapis.com/token) accepts:

- ``authorization_code``: the code is single-use and expires after 10 minutes; ``redirect_uri``
  must equal the one of the authorization request; PKCE (S256 or plain) is verified; the client
  authenticates with HTTP Basic or ``client_id``/``client_secret`` in the body. The response has
  ``access_token``, ``expires_in`` (3599), ``token_type``, ``scope`` (the granted scopes),
  ``refresh_token`` (when ``access_type=offline`` was requested) and ``id_token`` (when
  ``openid`` was granted).
- ``refresh_token``: the same refresh token stays valid (Google does not rotate refresh tokens);
  revoked or unknown tokens answer 400 ``invalid_grant`` "Token has been expired or revoked.".
- ``urn:ietf:params:oauth:grant-type:jwt-bearer`` (service accounts): the assertion is verified
  with the service account's registered key; with ``sub``, the user's domain must have granted
  domain-wide delegation to the service account's client id for every requested scope, else 401
  ``unauthorized_client``. The assertion's ``aud`` may be this token URL or Google's
  (google-auth always signs for https://oauth2.googleapis.com/token). Assertion times are
  checked against wall-clock time because google-auth signs them with the real clock.

Error bodies are Google's: ``{"error": ..., "error_description": ...}``
(https://developers.google.com/identity/protocols/oauth2/web-server,
https://developers.google.com/identity/protocols/oauth2/service-account).
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator import tokens
from simulator.google.auth import (
    ACCESS_TOKEN_LIFETIME,
    authenticate,
    issue_access_token,
    issue_id_token,
    issuer,
)
from simulator.google.state import GoogleState, Grant, google, random_token
from simulator.world import World

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
LEGACY_TOKEN_AUDIENCE = "https://accounts.google.com/o/oauth2/token"
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)
EXPIRED_OR_REVOKED = "Token has been expired or revoked."
# A deleted Workspace user can be restored for 20 days (https://support.google.com/a/answer/1397578).
DELETED_ACCOUNT_RETENTION = 20 * 86400


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def token_url(world: World) -> str:
    return f"{world.base_url}/google/token"


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        raw = base64.b64decode(header[6:]).decode()
        client_id, _, secret = raw.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)
    return form.get("client_id", ""), form.get("client_secret")


def _token_response(
    world: World, state: GoogleState, grant: Grant, nonce: str | None, with_refresh: bool
) -> dict[str, Any]:
    user = state.find_user(grant.user_email)
    assert user is not None
    body: dict[str, Any] = {
        "access_token": issue_access_token(
            world,
            client_id=grant.client_id,
            subject=user.id,
            email=user.email,
            scopes=grant.scopes,
            domain=user.domain,
            grant_id=grant.id,
        ),
        "expires_in": ACCESS_TOKEN_LIFETIME - 1,
        "scope": " ".join(grant.scopes),
        "token_type": "Bearer",
    }
    if with_refresh and grant.refresh_token:
        body["refresh_token"] = grant.refresh_token
    if "openid" in grant.scopes:
        body["id_token"] = issue_id_token(
            world,
            client_id=grant.client_id,
            subject=user.id,
            email=user.email,
            name=user.name,
            domain=user.domain,
            nonce=nonce,
        )
    return body


def _pkce_ok(challenge: str, method: str | None, verifier: str) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=") == challenge
    return verifier == challenge


def _authorization_code(
    world: World, state: GoogleState, form: dict[str, str], client_id: str
) -> Response:
    code = state.codes.get(form.get("code", ""))
    if code is None or code.used or code.expires_at <= world.timestamp():
        return oauth_error("invalid_grant", "Bad Request")
    if code.client_id != client_id:
        return oauth_error("invalid_grant", "Bad Request")
    if form.get("redirect_uri") != code.redirect_uri:
        return oauth_error("redirect_uri_mismatch", "Bad Request")
    if code.code_challenge:
        verifier = form.get("code_verifier")
        if not verifier:
            return oauth_error("invalid_grant", "Missing code verifier.")
        if not _pkce_ok(code.code_challenge, code.code_challenge_method, verifier):
            return oauth_error("invalid_grant", "Invalid code verifier.")
    code.used = True
    scopes = list(code.scopes)
    for grant in state.grants.values() if code.include_granted_scopes else ():
        # include_granted_scopes=true: scopes granted earlier to the same client are added
        # (incremental authorization).
        if (
            grant.client_id == client_id
            and grant.user_email == code.user_email
            and not grant.revoked
        ):
            scopes += [s for s in grant.scopes if s not in scopes]
    grant = Grant(
        id=uuid.uuid4().hex,
        client_id=client_id,
        user_email=code.user_email,
        scopes=scopes,
        refresh_token=random_token("1//0g", 48) if code.offline else None,
    )
    state.grants[grant.id] = grant
    if grant.refresh_token:
        state.refresh_index[grant.refresh_token] = grant.id
    return JSONResponse(_token_response(world, state, grant, code.nonce, with_refresh=True))


def _refresh(world: World, state: GoogleState, form: dict[str, str], client_id: str) -> Response:
    grant_id = state.refresh_index.get(form.get("refresh_token", ""))
    grant = state.grants.get(grant_id) if grant_id else None
    if grant is None or grant.revoked or grant.client_id != client_id:
        return oauth_error("invalid_grant", EXPIRED_OR_REVOKED)
    return JSONResponse(_token_response(world, state, grant, None, with_refresh=False))


def _jwt_bearer(world: World, state: GoogleState, form: dict[str, str]) -> Response:
    assertion = form.get("assertion", "")
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return oauth_error("invalid_grant", "Invalid JWT Signature.")
    account = state.service_accounts.get(str(unverified.get("iss", "")).lower())
    if account is None:
        return oauth_error("invalid_grant", "Invalid grant: account not found")
    kid = str(jwt.get_unverified_header(assertion).get("kid", ""))
    if kid in account.deleted_keys:
        # A deleted key (GAM classifies this text: the key was deleted or rotated away).
        return oauth_error("invalid_grant", "Invalid JWT: No valid verifier found for issuer")
    candidates = [account.keys[kid]] if kid in account.keys else list(account.keys.values())
    claims: dict[str, Any] | None = None
    for public_pem in candidates:
        try:
            claims = jwt.decode(
                assertion,
                public_pem,
                algorithms=["RS256"],
                # google-auth always signs for Google's own token URL, whatever token_uri says.
                audience=[token_url(world), GOOGLE_TOKEN_AUDIENCE, LEGACY_TOKEN_AUDIENCE],
                options={"verify_exp": False, "verify_iat": False},
            )
            break
        except jwt.InvalidAudienceError:
            return oauth_error("invalid_grant", "Invalid JWT: audience is not the token URL.")
        except jwt.PyJWTError:
            continue
    if claims is None:
        return oauth_error("invalid_grant", "Invalid JWT Signature.")
    now = time.time()
    iat, exp = float(claims.get("iat", 0)), float(claims.get("exp", 0))
    if exp - iat > 3600 or exp < now - 300 or iat > now + 300:
        return oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token "
            "(60 minutes) and in a reasonable timeframe. Check your iat and exp "
            "values in the assertion and use a clock with skew to account for "
            "clock differences between systems.",
        )
    scopes = str(claims.get("scope", "")).split()
    subject = claims.get("sub")
    if subject:
        refused = _subject_refusal(world, state, str(subject))
        if refused is not None:
            return refused
        user = state.find_user(str(subject))
        domain = state.domain_of(str(subject))
        assert user is not None
        assert domain is not None
        allowed = domain.dwd_grants.get(account.client_id, set())
        if not scopes or not set(scopes) <= allowed:
            return oauth_error("unauthorized_client", UNAUTHORIZED_CLIENT, status=401)
        token = issue_access_token(
            world,
            client_id=account.client_id,
            subject=user.id,
            email=user.email,
            scopes=scopes,
            domain=user.domain,
            grant_id=None,
        )
    else:
        token = issue_access_token(
            world,
            client_id=account.client_id,
            subject=account.client_id,
            email=account.client_email,
            scopes=scopes,
            domain=None,
            grant_id=None,
        )
    return JSONResponse(
        {"access_token": token, "expires_in": ACCESS_TOKEN_LIFETIME - 1, "token_type": "Bearer"}
    )


def _subject_refusal(world: World, state: GoogleState, subject: str) -> Response | None:
    """Why Google refuses to act as ``subject`` (the JWT's ``sub``), or ``None``.

    Documented by the errors Google's own admin tooling classifies (GAM ``OAUTH2_TOKEN_ERRORS``):
    ``invalid_grant`` "Invalid email or User ID" for an address that is no user, and
    ``invalid_grant`` "The account has been deleted" for a recently deleted one (restorable for
    20 days; afterwards the address is unknown). Not documented, and chosen strictly here: an
    alias is not accepted as ``sub`` (only the primary email), and a suspended user is refused
    like an unknown one (delegated calls fail for suspended accounts, GAM-team/got-your-back#258).
    """
    user = state.find_user(subject)
    if user is not None and not user.suspended:
        return None
    if user is None:
        deleted = state.find_deleted(subject)
        if (
            deleted is not None
            and deleted.deleted_at is not None
            and world.timestamp() - deleted.deleted_at < DELETED_ACCOUNT_RETENTION
        ):
            return oauth_error("invalid_grant", "The account has been deleted")
    return oauth_error("invalid_grant", "Invalid email or User ID")


def routes(world: World) -> list[BaseRoute]:
    """Token, revoke, userinfo, OpenID configuration and JWKS."""

    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        grant_type = form.get("grant_type", "")
        state = google(world)
        with world.lock:
            if grant_type == JWT_BEARER:
                return _jwt_bearer(world, state, form)
            client_id, secret = _client_credentials(request, form)
            client = state.clients.get(client_id)
            if client is None:
                return oauth_error("invalid_client", "The OAuth client was not found.", 401)
            if secret != client.client_secret:
                return oauth_error("invalid_client", "Unauthorized", 401)
            if grant_type == "authorization_code":
                return _authorization_code(world, state, form, client_id)
            if grant_type == "refresh_token":
                return _refresh(world, state, form, client_id)
        return oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    async def revoke(request: Request) -> Response:
        form = await request.form()
        value = str(form.get("token") or request.query_params.get("token", ""))
        state = google(world)
        with world.lock:
            grant_id = state.refresh_index.get(value)
            if grant_id is None:
                try:
                    grant_id = tokens.verify(world, value).get("grant")
                except tokens.InvalidToken:
                    grant_id = None
            grant = state.grants.get(grant_id) if grant_id else None
            if grant is None or grant.revoked:
                return oauth_error("invalid_token", "Token expired or revoked")
            # Revoking either token of a grant revokes the grant (revocation docs).
            grant.revoked = True
        return JSONResponse({})

    async def userinfo(request: Request) -> Response:
        principal = authenticate(world, request)
        if isinstance(principal, JSONResponse):
            return principal
        with world.lock:
            user = google(world).find_user(principal.email)
        if user is None:
            return oauth_error("invalid_request", "Invalid Credentials", 401)
        return JSONResponse(
            {
                "sub": user.id,
                "email": user.email,
                "email_verified": True,
                "name": user.name,
                "hd": user.domain,
            }
        )

    async def openid_configuration(request: Request) -> Response:
        base = issuer(world)
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
                "token_endpoint": token_url(world),
                "userinfo_endpoint": f"{base}/oauth2/v3/userinfo",
                "revocation_endpoint": f"{base}/revoke",
                "jwks_uri": f"{base}/oauth2/v3/certs",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["plain", "S256"],
                "grant_types_supported": ["authorization_code", "refresh_token", JWT_BEARER],
            }
        )

    async def certs(request: Request) -> Response:
        return JSONResponse(tokens.registry(world).jwks())

    return [
        Route("/google/token", token, methods=["POST"]),
        Route("/google/revoke", revoke, methods=["POST"]),
        Route("/google/oauth2/v3/userinfo", userinfo, methods=["GET"]),
        Route("/google/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/google/oauth2/v3/certs", certs, methods=["GET"]),
    ]
