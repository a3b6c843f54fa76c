"""Signing keys and JWTs for the simulated identity providers.

One RSA key per world signs every token (id tokens, access tokens, Google id tokens); its public
half is published as a JWKS by each identity area. Access tokens are JWTs so that resource areas
(Graph, Key Vault, Google APIs) can check audience, expiry, scopes (``scp``, delegated) and roles
(``roles``, app-only) without a shared table; revocation is checked by the issuing area through
:class:`TokenRegistry` (a set of revoked ``jti``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from simulator.world import World


@dataclass
class TokenRegistry:
    key: rsa.RSAPrivateKey
    kid: str
    revoked_jti: set[str] = field(default_factory=set)

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [public]}


def registry(world: World) -> TokenRegistry:
    """The world's signing key and revocation list, created on first use."""
    return world.area(
        "tokens",
        lambda: TokenRegistry(
            key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            kid=uuid.uuid4().hex[:16],
        ),
    )


def issue(world: World, claims: dict[str, Any], lifetime_seconds: int = 3600) -> str:
    """Sign ``claims`` (``iat``, ``nbf``, ``exp`` and ``jti`` added) as an RS256 JWT."""
    reg = registry(world)
    now = int(world.timestamp())
    body = {"iat": now, "nbf": now, "exp": now + lifetime_seconds, "jti": uuid.uuid4().hex}
    body.update(claims)
    return jwt.encode(body, reg.key, algorithm="RS256", headers={"kid": reg.kid})


class InvalidToken(Exception):
    """The bearer token is malformed, expired, revoked, or for another audience."""


def verify(world: World, token: str, audience: str | None = None) -> dict[str, Any]:
    """Decode and check a token this world issued (signature, simulated expiry, audience).

    Raises :class:`InvalidToken` with a reason.
    """
    reg = registry(world)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            reg.key.public_key(),
            algorithms=["RS256"],
            options={
                "verify_exp": False,
                "verify_aud": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"malformed token: {exc}") from exc
    # Expiry is checked against the simulated clock, which tests move forward.
    if claims.get("exp", 0) <= world.timestamp():
        raise InvalidToken("token expired")
    if claims.get("jti") in reg.revoked_jti:
        raise InvalidToken("token revoked")
    if audience is not None:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if audience not in auds:
            raise InvalidToken(f"token audience {aud!r} is not {audience!r}")
    return claims


GRAPH_AUDIENCE = "https://graph.microsoft.com"


def issue_microsoft_access_token(
    world: World,
    *,
    tenant_id: str,
    client_id: str,
    audience: str = GRAPH_AUDIENCE,
    user_id: str | None = None,
    user_principal_name: str | None = None,
    scopes: list[str] | tuple[str, ...] = (),
    roles: list[str] | tuple[str, ...] = (),
    lifetime_seconds: int = 3600,
) -> str:
    """An Entra ID v2 access token in the shape resource areas check.

    Delegated tokens (``user_id`` set) carry ``scp`` (space-separated scopes, without
    ``openid``/``profile``/``offline_access``) and ``oid`` = the user's id; app-only tokens carry
    ``roles`` (application permissions) and ``idtyp: app``, with ``oid`` = the client id.
    """
    claims: dict[str, Any] = {
        "iss": f"{world.base_url}/{tenant_id}/v2.0",
        "aud": audience,
        "tid": tenant_id,
        "appid": client_id,
        "azp": client_id,
        "ver": "2.0",
    }
    if user_id is not None:
        claims["oid"] = user_id
        claims["sub"] = user_id
        if user_principal_name:
            claims["upn"] = user_principal_name
            claims["preferred_username"] = user_principal_name
        granted = [s for s in scopes if s not in ("openid", "profile", "email", "offline_access")]
        claims["scp"] = " ".join(granted)
    else:
        claims["oid"] = client_id
        claims["sub"] = client_id
        claims["idtyp"] = "app"
        claims["roles"] = list(roles)
    return issue(world, claims, lifetime_seconds)
