"""Google access tokens: what the token endpoint issues and what the APIs accept.

Access tokens are JWTs signed with the world key (:mod:`simulator.tokens`), so the APIs can read
them without a lookup. Claims (all strings unless noted)::

    typ    "google_access"            (refused where an id token is presented instead)
    iss    {base}/google
    aud    the OAuth client id (for service accounts: the service account's client id)
    azp    same as aud
    sub    the user's numeric id (for a service account without ``sub``: its client id)
    email  the user's (or the service account's) email
    hd     the user's Workspace domain (absent for a bare service account)
    scope  granted scopes, space-separated
    grant  id of the user's grant (revoking the grant or its refresh token kills the token);
           absent for service-account tokens
    exp    issue time + 3600 (simulated clock); iat, nbf, jti as in simulator.tokens

Google's real access tokens are opaque (``ya29....``); clients must not parse them, and ours
do not need to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from simulator import tokens
from simulator.google import errors
from simulator.google.state import google
from simulator.world import World

ACCESS_TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class Principal:
    """The caller of a Google API, from its bearer token."""

    email: str
    client_id: str
    scopes: frozenset[str]
    domain: str | None

    def has_any(self, *scopes: str) -> bool:
        return any(s in self.scopes for s in scopes)


def issuer(world: World) -> str:
    return f"{world.base_url}/google"


def issue_access_token(
    world: World,
    *,
    client_id: str,
    subject: str,
    email: str,
    scopes: list[str],
    domain: str | None,
    grant_id: str | None,
) -> str:
    """Sign an access token with the claims documented in the module docstring."""
    claims: dict[str, Any] = {
        "typ": "google_access",
        "iss": issuer(world),
        "aud": client_id,
        "azp": client_id,
        "sub": subject,
        "email": email,
        "scope": " ".join(scopes),
    }
    if domain:
        claims["hd"] = domain
    if grant_id:
        claims["grant"] = grant_id
    return tokens.issue(world, claims, ACCESS_TOKEN_LIFETIME)


def issue_id_token(
    world: World,
    *,
    client_id: str,
    subject: str,
    email: str,
    name: str,
    domain: str,
    nonce: str | None,
) -> str:
    """An OpenID Connect id token (the claims Google documents for its id tokens)."""
    claims: dict[str, Any] = {
        "iss": issuer(world),
        "aud": client_id,
        "azp": client_id,
        "sub": subject,
        "email": email,
        "email_verified": True,
        "hd": domain,
        "name": name,
    }
    if nonce:
        claims["nonce"] = nonce
    return tokens.issue(world, claims, ACCESS_TOKEN_LIFETIME)


def authenticate(world: World, request: Request) -> Principal | JSONResponse:
    """The caller of an API request, or Google's 401 ``authError`` response."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return errors.invalid_credentials()
    try:
        claims = tokens.verify(world, header[7:].strip())
    except tokens.InvalidToken:
        return errors.invalid_credentials()
    if claims.get("typ") != "google_access":
        return errors.invalid_credentials()
    grant_id = claims.get("grant")
    with world.lock:
        state = google(world)
        if grant_id is not None:
            grant = state.grants.get(grant_id)
            if grant is None or grant.revoked:
                return errors.invalid_credentials()
        if claims.get("hd") and state.find_user(str(claims["email"])) is None:
            # The account was deleted since the token was issued: its tokens stop working.
            return errors.invalid_credentials()
    return Principal(
        email=str(claims["email"]).lower(),
        client_id=str(claims["aud"]),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        domain=claims.get("hd"),
    )
