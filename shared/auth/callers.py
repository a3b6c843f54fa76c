"""Caller authentication for the admin, user and host-app APIs.

The host app's identity provider issues bearer JWTs carrying ``sub`` (the person or the backend),
``org`` (the customer organisation) and ``roles`` (``admin`` for subscription administrators,
``service`` for the host-app backend; ordinary users have none). In production the tokens are
checked against the provider's JWKS (issuer, audience, signature, expiry); in local development
they are HS256-signed with a shared secret (``make token`` mints them).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from shared.errors import Forbidden, Unauthenticated
from shared.settings import Settings, outbound_ssl_context

ADMIN = "admin"
SERVICE = "service"

_ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller."""

    subject: str
    org: str
    roles: frozenset[str]

    def has_role(self, role: str) -> bool:
        return role in self.roles


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer`` header; raises ``Unauthenticated``."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a bearer token is required", code="missing_token")
    return token.strip()


class TokenValidator:
    """Validates caller tokens per settings; JWKS keys are fetched lazily and cached."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _key_for(self, token: str) -> tuple[Any, list[str]]:
        if self._settings.auth_mode == "local":
            return self._settings.secret("auth_shared_secret"), ["HS256"]
        with self._lock:
            if self._jwks is None:
                # PyJWKClient caches the key set and refetches when it meets an unknown kid.
                self._jwks = jwt.PyJWKClient(
                    self._settings.require("auth_jwks_url"),
                    cache_keys=True,
                    lifespan=3600,
                    timeout=10,
                    ssl_context=outbound_ssl_context(self._settings),
                )
        try:
            return self._jwks.get_signing_key_from_jwt(token).key, _ASYMMETRIC
        except jwt.PyJWKClientError as exc:
            raise Unauthenticated(f"token key not found: {exc}", code="invalid_token") from exc

    def validate(self, token: str) -> Caller:
        """Check signature, expiry, issuer and audience; return the caller.

        Raises ``Unauthenticated`` (code ``invalid_token`` or ``token_expired``) on any failure.
        """
        try:
            key, algorithms = self._key_for(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._settings.auth_audience,
                issuer=self._settings.auth_issuer,
                leeway=self._settings.auth_leeway_seconds,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired", code="token_expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"the token is not valid: {exc}", code="invalid_token") from exc
        org = claims.get("org")
        if not isinstance(org, str) or not org:
            raise Unauthenticated("the token carries no org claim", code="invalid_token")
        roles = claims.get("roles", [])
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(roles, list):
            raise Unauthenticated("the roles claim must be a list", code="invalid_token")
        return Caller(subject=str(claims["sub"]), org=org, roles=frozenset(map(str, roles)))


def require_role(caller: Caller, role: str) -> None:
    if not caller.has_role(role):
        raise Forbidden(f"this operation needs the {role!r} role", code="role_required")


def require_org(caller: Caller, org: str) -> None:
    """The route's ``{org}`` must be the caller's own organisation."""
    if caller.org != org:
        raise Forbidden("the token is for another organisation", code="wrong_org")
