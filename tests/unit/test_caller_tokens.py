"""Caller authentication: signature, expiry, audience, organisation and role."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from shared.auth.callers import TokenValidator, bearer_token, require_org, require_role
from shared.auth.mint import mint
from shared.errors import Forbidden, Unauthenticated
from shared.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        {"LOCAL_SETTINGS_FILE": str(tmp_path / "none"), "AUTH_SHARED_SECRET": "s" * 40}
    )


def test_a_minted_token_names_the_caller(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="alice", roles=["admin"])
    caller = TokenValidator(settings).validate(token)
    assert (caller.subject, caller.org, caller.roles) == ("alice", "contoso", frozenset({"admin"}))


def test_an_expired_token_is_refused(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="alice", ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(Unauthenticated) as caught:
        TokenValidator(settings).validate(token)
    assert caught.value.code == "token_expired"


def test_a_token_for_another_audience_is_refused(settings: Settings) -> None:
    claims = {"iss": settings.auth_issuer, "aud": "someone-else", "sub": "alice", "org": "c"}
    token = jwt.encode({**claims, "exp": int(time.time()) + 60}, "s" * 40, algorithm="HS256")
    with pytest.raises(Unauthenticated) as caught:
        TokenValidator(settings).validate(token)
    assert caught.value.code == "invalid_token"


def test_a_token_signed_with_another_secret_is_refused(settings: Settings) -> None:
    other = settings.model_copy(update={"auth_shared_secret": None})
    forged = jwt.encode(
        {
            "iss": other.auth_issuer,
            "aud": other.auth_audience,
            "sub": "mallory",
            "org": "contoso",
            "roles": ["admin"],
            "exp": int(time.time()) + 60,
        },
        "not-the-secret-" * 3,
        algorithm="HS256",
    )
    with pytest.raises(Unauthenticated):
        TokenValidator(settings).validate(forged)


def test_a_token_without_org_is_refused(settings: Settings) -> None:
    token = jwt.encode(
        {
            "iss": settings.auth_issuer,
            "aud": settings.auth_audience,
            "sub": "alice",
            "exp": int(time.time()) + 60,
        },
        "s" * 40,
        algorithm="HS256",
    )
    with pytest.raises(Unauthenticated, match="org"):
        TokenValidator(settings).validate(token)


def test_wrong_org_and_missing_role_are_forbidden(settings: Settings) -> None:
    caller = TokenValidator(settings).validate(mint(settings, org="contoso", sub="bob"))
    with pytest.raises(Forbidden) as wrong_org:
        require_org(caller, "fabrikam")
    assert wrong_org.value.code == "wrong_org"
    with pytest.raises(Forbidden) as no_role:
        require_role(caller, "admin")
    assert no_role.value.code == "role_required"


def test_only_bearer_authorization_is_accepted() -> None:
    assert bearer_token({"Authorization": "Bearer abc"}) == "abc"
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        with pytest.raises(Unauthenticated):
            bearer_token(headers)
