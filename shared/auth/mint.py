"""Mint a local development token (HS256 with ``AUTH_SHARED_SECRET``).

Usage: ``make token ARGS="--org contoso --sub alice --role admin"`` or
``python -m shared.auth.mint --org contoso --sub alice --role admin --ttl 3600``.
Only for ``AUTH_MODE=local``; production tokens come from the host app's identity provider.
"""

from __future__ import annotations

import argparse
import time

import jwt

from shared.settings import Settings, get_settings


def mint(
    settings: Settings,
    *,
    org: str,
    sub: str,
    roles: list[str] | tuple[str, ...] = (),
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """A token the local validator accepts (or rejects once ``ttl_seconds`` have passed)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": sub,
        "org": org,
        "roles": list(roles),
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, settings.secret("auth_shared_secret"), algorithm="HS256")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--org", required=True)
    parser.add_argument("--sub", required=True)
    parser.add_argument("--role", action="append", default=[], help="admin or service; repeat")
    parser.add_argument("--ttl", type=int, default=3600)
    args = parser.parse_args(argv)
    settings = get_settings()
    if settings.auth_mode != "local":
        parser.error("AUTH_MODE is not 'local': tokens come from the identity provider")
    print(mint(settings, org=args.org, sub=args.sub, roles=args.role, ttl_seconds=args.ttl))


if __name__ == "__main__":
    main()
