"""Google service integrations: the Workspace user directory read acting as an administrator,
people matched by primary email then alias with the fewest requests, and domain-wide delegation
refusals turned into their diagnostics entries. Real google-auth and google-api-python-client
against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.diagnostics import diagnose_provider_error
from shared.errors import ProviderDenied, ProviderNotFound, ValidationFailed
from shared.providers.google.matching import match_addresses
from shared.providers.google.service import GoogleServiceProvider
from shared.providers.google.service_account import (
    CALENDAR_EVENTS_SCOPE,
    DIRECTORY_USERS_SCOPE,
    SERVICE_SCOPES,
    GoogleServiceAccountAuth,
    ServiceAccountKey,
)
from shared.providers.google.users import GoogleUserDirectory
from shared.service.model import ServiceConfig
from tests.providers.google_support import Org, make_org

pytestmark = pytest.mark.simulator


@pytest.fixture
def org(simulator: Any) -> Iterator[Org]:
    yield from make_org(simulator)


@pytest.fixture
def key(org: Org) -> dict[str, Any]:
    key = org.google.add_service_account("people-" + org.domain.split(".")[0])
    org.google.grant_delegation(org.domain, key["client_id"], list(SERVICE_SCOPES))
    return key


def directory(org: Org, key: dict[str, Any], admin: str | None = None) -> GoogleUserDirectory:
    tokens = GoogleServiceAccountAuth(
        org.settings, key, admin or org.admin, scopes=[DIRECTORY_USERS_SCOPE]
    )
    return GoogleUserDirectory(org.settings, tokens)


def test_people_match_by_primary_email_then_alias_with_the_immutable_id(
    org: Org, key: dict[str, Any]
) -> None:
    d = org.domain
    bo = org.google.add_user(f"bo@{d}", name="Bo Person", aliases=[f"robert@{d}"])
    cy = org.google.add_user(f"cy@{d}", suspended=True)
    org.google.add_user(f"dee@{d}")
    org.google.delete_user(f"dee@{d}")
    people = [f"Bo@{d}", f"ROBERT@{d}", f"cy@{d}", f"dee@{d}", f"nobody@{d}"]
    people.append("eve@elsewhere.example")
    with directory(org, key) as users:
        found = match_addresses(users, people)
        assert users.requests == 1  # one page holds this small directory
    assert {a: (m.entry.id if m.entry else None, m.reason, m.via) for a, m in found.items()} == {
        f"bo@{d}": (bo["id"], None, "primaryEmail"),
        f"robert@{d}": (bo["id"], None, "aliases"),
        f"cy@{d}": (cy["id"], "suspended", "primaryEmail"),
        f"dee@{d}": (None, "not_found", ""),
        f"nobody@{d}": (None, "not_found", ""),
        "eve@elsewhere.example": (None, "not_found", ""),
    }
    assert found[f"bo@{d}"].entry is not None
    assert found[f"bo@{d}"].entry.primary_email == f"bo@{d}"


def test_a_large_directory_is_paged_and_stragglers_are_looked_up_one_by_one(
    org: Org, key: dict[str, Any]
) -> None:
    d = org.domain
    org.google.add_users(d, [{"email": f"user{i:04d}@{d}"} for i in range(1200)])
    everyone = [f"user{i:04d}@{d}" for i in range(0, 1200, 2)]  # 600 people, all present
    with directory(org, key) as users:
        found = match_addresses(users, everyone)
        assert all(m.matched for m in found.values())
        assert users.requests == 3  # ceil(1,203 / 500) pages, no per-person lookups
    few = [f"user0001@{d}", f"user1199@{d}", f"ghost@{d}"]
    with directory(org, key) as users:
        found = match_addresses(users, few)
        # page 1 resolves user0001; two stragglers > 1 page read, so page 2; then 2 <= 2:
        # one users.get each (the ghost is not found without reading page 3).
        assert users.requests == 4
    assert [found[a].reason for a in few] == [None, None, "not_found"]


def test_a_directory_read_as_a_non_administrator_is_diagnosed(
    org: Org, key: dict[str, Any]
) -> None:
    with directory(org, key, admin=org.ann) as users, pytest.raises(ProviderDenied) as denied:
        users.page()
    assert denied.value.provider_code == "forbidden"


def test_delegation_refusals_name_who_must_act(org: Org, key: dict[str, Any]) -> None:
    org.google.grant_delegation(org.domain, key["client_id"], [CALENDAR_EVENTS_SCOPE])
    scopes = ",".join(SERVICE_SCOPES)
    with directory(org, key) as users, pytest.raises(ProviderDenied) as refused:
        users.page()
    diagnosis = diagnose_provider_error(refused.value, client_id=key["client_id"], scope=scopes)
    assert diagnosis.code == "google.unauthorized_client"
    assert diagnosis.who_must_act == "cloud_admin"
    steps = " ".join(diagnosis.fix)
    assert key["client_id"] in steps
    assert scopes in steps

    org.google.add_user(f"gone@{org.domain}")
    org.google.delete_user(f"gone@{org.domain}")
    for subject, expected in [
        (f"nobody@{org.domain}", "google.dwd_unknown_user"),
        (f"gone@{org.domain}", "google.dwd_account_deleted"),
    ]:
        tokens = GoogleServiceAccountAuth(
            org.settings, key, subject, scopes=[CALENDAR_EVENTS_SCOPE]
        )
        with pytest.raises(ProviderDenied) as refused:
            tokens()
        diagnosis = diagnose_provider_error(refused.value, user=subject)
        assert diagnosis.code == expected
        assert diagnosis.who_must_act == "subscription_admin"


def test_the_key_file_token_uri_is_ignored(org: Org, key: dict[str, Any]) -> None:
    elsewhere = dict(key, token_uri="https://attacker.example/token")
    tokens = GoogleServiceAccountAuth(
        org.settings, elsewhere, org.ann, scopes=[CALENDAR_EVENTS_SCOPE]
    )
    assert tokens()  # the assertion went to the configured GOOGLE_TOKEN_URI


def test_a_key_file_is_validated_without_echoing_it(key: dict[str, Any]) -> None:
    parsed = ServiceAccountKey.parse(key)
    assert (parsed.client_id, parsed.client_email) == (key["client_id"], key["client_email"])
    assert "PRIVATE KEY" not in repr(parsed)
    bad_cases = [
        "not json",
        {**key, "type": "authorized_user"},
        {k: v for k, v in key.items() if k != "private_key"},
        {**key, "client_id": key["client_email"]},
        {**key, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
    ]
    for bad in bad_cases:
        with pytest.raises(ValidationFailed) as invalid:
            ServiceAccountKey.parse(bad)
        assert "PRIVATE KEY" not in str(invalid.value.errors)
        assert invalid.value.errors[0]["field"] == "service_account_key"



def test_a_person_kept_by_user_id_is_acted_as_by_their_primary_email(
    org: Org, key: dict[str, Any]
) -> None:
    """A process that did not match (a sync worker) turns the immutable id into the primary
    email once, acting as the administrator; an unknown id is not found."""
    provider = GoogleServiceProvider(org.settings)
    parsed = provider.parse({"service_account_key": key, "admin_email": org.admin})
    config = ServiceConfig(
        org="o",
        integration_id="i-" + org.domain,
        provider="google",
        credential_type=parsed.credential_type,
        settings=parsed.settings,
    )
    kim = org.google.add_user(f"kim@{org.domain}", name="Kim", aliases=[f"k@{org.domain}"])
    org.google.create_event(
        kim["email"],
        {
            "summary": "Kim's own",
            "start": {"dateTime": "2031-01-01T09:00:00Z"},
            "end": {"dateTime": "2031-01-01T10:00:00Z"},
        },
    )
    credential = provider.credential(config, parsed.secret)
    window = (datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 1, 2, tzinfo=UTC))
    with closing(provider.calendar(config, credential, kim["id"])) as calendar:
        assert [e.subject for e in calendar.events_between(*window)] == ["Kim's own"]
    with pytest.raises(ProviderNotFound):
        credential.token_source("999")()
