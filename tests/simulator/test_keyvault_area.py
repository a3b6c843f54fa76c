"""The simulated Key Vault at the REST level: challenge, error bodies, soft-delete and purge."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulator import keyvault, tokens

API = {"api-version": "2025-07-01"}


@pytest.fixture
def vault(simulator: Any) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{simulator.base_url}/keyvault",
        verify=ssl.create_default_context(cafile=str(simulator.certs.ca)),
        timeout=10,
    ) as client:
        yield client


def _token(simulator: Any, *, tenant: str = keyvault.DEFAULT_TENANT_ID, audience: str = "") -> str:
    return tokens.issue_microsoft_access_token(
        simulator.world,
        tenant_id=tenant,
        client_id="rest-test",
        audience=audience or keyvault.AUDIENCE,
    )


def _auth(simulator: Any, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(simulator, **kwargs)}"}


def test_a_request_without_a_token_gets_the_bearer_challenge(
    simulator: Any, vault: httpx.Client
) -> None:
    response = vault.put("/secrets/x", params=API, headers={"Content-Length": "0"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="{simulator.base_url}/{keyvault.DEFAULT_TENANT_ID}", '
        'resource="https://vault.azure.net"'
    )
    assert response.json()["error"]["code"] == "Unauthorized"


def test_tokens_for_another_audience_or_tenant_are_challenged(
    simulator: Any, vault: httpx.Client
) -> None:
    graph = _auth(simulator, audience="https://graph.microsoft.com")
    response = vault.get("/secrets/x", params=API, headers=graph)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    other = _auth(simulator, tenant="another-tenant")
    assert vault.get("/secrets/x", params=API, headers=other).status_code == 401


def test_missing_api_version_and_invalid_names_are_bad_parameters(
    simulator: Any, vault: httpx.Client
) -> None:
    auth = _auth(simulator)
    response = vault.get("/secrets/x", headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadParameter"
    response = vault.put("/secrets/under_score", params=API, headers=auth, json={"value": "v"})
    assert response.status_code == 400


def test_secret_lifecycle_with_soft_delete_and_purge(simulator: Any, vault: httpx.Client) -> None:
    auth = _auth(simulator)
    name = f"rest-{time.time_ns()}"
    missing = vault.get(f"/secrets/{name}", params=API, headers=auth)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "SecretNotFound"

    first = vault.put(f"/secrets/{name}", params=API, headers=auth, json={"value": "one"}).json()
    second = vault.put(
        f"/secrets/{name}", params=API, headers=auth, json={"value": "two", "tags": {"k": "v"}}
    ).json()
    assert first["id"] != second["id"]
    assert first["id"].startswith(f"{simulator.base_url}/secrets/{name}/")
    latest = vault.get(f"/secrets/{name.upper()}", params=API, headers=auth).json()
    assert (latest["value"], latest["tags"]) == ("two", {"k": "v"})
    old_version = first["id"].rsplit("/", 1)[1]
    assert (
        vault.get(f"/secrets/{name}/{old_version}", params=API, headers=auth).json()["value"]
        == "one"
    )

    deleted = vault.delete(f"/secrets/{name}", params=API, headers=auth).json()
    assert deleted["recoveryId"] == f"{simulator.base_url}/deletedsecrets/{name}"
    assert "value" not in deleted
    assert vault.get(f"/secrets/{name}", params=API, headers=auth).status_code == 404
    assert vault.get(f"/deletedsecrets/{name}", params=API, headers=auth).status_code == 200
    reuse = vault.put(f"/secrets/{name}", params=API, headers=auth, json={"value": "three"})
    assert reuse.status_code == 409
    assert reuse.json()["error"]["innererror"]["code"] == "ObjectIsDeletedButRecoverable"

    purged = vault.delete(f"/deletedsecrets/{name}", params=API, headers=auth)
    assert purged.status_code == 204
    assert vault.get(f"/deletedsecrets/{name}", params=API, headers=auth).status_code == 404
    again = vault.put(f"/secrets/{name}", params=API, headers=auth, json={"value": "three"})
    assert again.status_code == 200


def test_recover_brings_a_deleted_secret_back(simulator: Any, vault: httpx.Client) -> None:
    auth = _auth(simulator)
    name = f"recover-{time.time_ns()}"
    vault.put(f"/secrets/{name}", params=API, headers=auth, json={"value": "kept"})
    vault.delete(f"/secrets/{name}", params=API, headers=auth)
    recovered = vault.post(f"/deletedsecrets/{name}/recover", params=API, headers=auth)
    assert recovered.json()["value"] == "kept"
    assert vault.get(f"/secrets/{name}", params=API, headers=auth).json()["value"] == "kept"


def test_listing_pages_with_next_links(simulator: Any, vault: httpx.Client) -> None:
    auth = _auth(simulator)
    stamp = time.time_ns()
    for i in range(3):
        vault.put(f"/secrets/page-{stamp}-{i}", params=API, headers=auth, json={"value": "v"})
    page = vault.get("/secrets", params={**API, "maxresults": "1"}, headers=auth).json()
    assert len(page["value"]) == 1
    assert "value" not in page["value"][0]
    assert page["nextLink"].startswith(f"{simulator.base_url}/keyvault/secrets?")
    follow = vault.get(page["nextLink"], headers=auth).json()
    assert len(follow["value"]) == 1
    assert follow["value"][0]["id"] != page["value"][0]["id"]
