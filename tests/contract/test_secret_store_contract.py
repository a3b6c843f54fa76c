"""The SecretStore contract: memory, local encrypted files and Key Vault (on the simulator)."""

from __future__ import annotations

import itertools
import logging
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from shared.errors import BadRequest, ConfigurationError, SecretStoreUnavailable
from shared.secrets.keyvault_store import KeyVaultSecretStore, vault_name
from shared.secrets.local_store import LocalSecretStore
from shared.secrets.memory_store import MemorySecretStore
from shared.secrets.store import SecretStore
from simulator import keyvault, tokens
from simulator.server import SimulatorServer

VAULT_SCOPE = "https://vault.azure.net/.default"
_counter = itertools.count()


class SimulatorCredential:
    """A test double of azure-core's TokenCredential: tokens signed by the simulated world."""

    def __init__(self, server: SimulatorServer, client_id: str = "kv-test-app") -> None:
        self.server = server
        self.client_id = client_id
        self.scopes_seen: list[tuple[str, ...]] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.scopes_seen.append(scopes)
        token = tokens.issue_microsoft_access_token(
            self.server.world,
            tenant_id=tenant_id or keyvault.DEFAULT_TENANT_ID,
            client_id=self.client_id,
            audience=keyvault.AUDIENCE,
            roles=["Key Vault Secrets Officer"],
        )
        return AccessToken(token, int(time.time()) + 3600)


def keyvault_store(server: SimulatorServer, **kwargs: Any) -> KeyVaultSecretStore:
    return KeyVaultSecretStore(
        f"{server.base_url}/keyvault",
        SimulatorCredential(server, **kwargs),
        connection_verify=str(server.certs.ca),
        verify_challenge_resource=False,  # the vault is 127.0.0.1, not *.vault.azure.net
    )


@dataclass
class Subject:
    store: SecretStore
    prefix: str  # every name a test uses starts with it (the simulator is shared)


@pytest.fixture(params=["memory", "local", "keyvault"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    prefix = f"t{next(_counter)}-{time.time_ns()}/"
    if request.param == "memory":
        yield Subject(MemorySecretStore(), prefix)
    elif request.param == "local":
        yield Subject(
            LocalSecretStore(tmp_path / "secrets", LocalSecretStore.generate_key()), prefix
        )
    else:
        server: SimulatorServer = request.getfixturevalue("simulator")
        store = keyvault_store(server)
        yield Subject(store, prefix)
        store.close()


def test_set_get_replace_and_delete(subject: Subject) -> None:
    store, name = subject.store, subject.prefix + "conn--org1--abc"
    assert store.get(name) is None
    store.set(name, '{"refresh_token": "r1"}')
    assert store.get(name) == '{"refresh_token": "r1"}'
    store.set(name, '{"refresh_token": "r2"}')
    assert store.get(name) == '{"refresh_token": "r2"}'
    assert store.delete(name) is True
    assert store.get(name) is None
    assert store.delete(name) is False


def test_names_are_listed_by_prefix(subject: Subject) -> None:
    store, p = subject.store, subject.prefix
    for name in ("conn--orgB--1", "conn--orgA--2", "conn--orgA--1", "state--x"):
        store.set(p + name, "v")
    assert list(store.names(p + "conn--orgA--")) == [p + "conn--orgA--1", p + "conn--orgA--2"]
    assert list(store.names(p)) == [
        p + "conn--orgA--1",
        p + "conn--orgA--2",
        p + "conn--orgB--1",
        p + "state--x",
    ]
    store.delete(p + "conn--orgA--1")
    assert list(store.names(p + "conn--orgA--")) == [p + "conn--orgA--2"]


def test_names_with_characters_key_vault_forbids_round_trip(subject: Subject) -> None:
    store, p = subject.store, subject.prefix
    odd = [p + "a.b", p + "a_b", p + "A.B", p + "Zoë / ünïcode: #?%&=+ 'q' \"d\"", p + "x" * 200]
    for index, name in enumerate(odd):
        store.set(name, f"value {index}")
    for index, name in enumerate(odd):
        assert store.get(name) == f"value {index}"
    assert list(store.names(p)) == sorted(odd)


def test_delete_then_set_again_of_the_same_name_works(subject: Subject) -> None:
    store, name = subject.store, subject.prefix + "client-state"
    store.set(name, "first")
    assert store.delete(name) is True
    store.set(name, "second")
    assert store.get(name) == "second"
    assert list(store.names(subject.prefix)) == [name]


def test_listing_goes_past_one_page(subject: Subject) -> None:
    store, p = subject.store, subject.prefix
    names = [f"{p}n{i:02d}" for i in range(30)]  # Key Vault pages hold 25 items
    for name in names:
        store.set(name, "v")
    assert list(store.names(p)) == names


def test_invalid_names_are_rejected(subject: Subject) -> None:
    for bad in ("", "x" * 257, "tab\there", "new\nline"):
        with pytest.raises(BadRequest):
            subject.store.set(bad, "v")


def test_ping_answers(subject: Subject) -> None:
    subject.store.ping()


# --- the local store: encrypted at rest --------------------------------------------------


def _local_files(directory: Path) -> Iterator[Path]:
    return (p for p in directory.iterdir() if p.is_file())


def test_local_files_hold_neither_names_nor_values_in_plaintext(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    store = LocalSecretStore(directory, LocalSecretStore.generate_key())
    store.set("conn--contoso--4711", "refresh-token-SENTINEL-9f3a")
    files = list(_local_files(directory))
    assert len(files) == 2  # the secret and the key check
    for path in files:
        data = path.read_bytes()
        for needle in ("conn--contoso--4711", "contoso", "refresh-token-SENTINEL-9f3a", "SENTINEL"):
            assert needle.encode() not in data
            assert needle.encode("utf-16-le") not in data
            assert needle not in path.name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(directory.glob(".tmp-*"))


def test_local_store_with_the_wrong_key_names_the_setting(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    LocalSecretStore(directory, LocalSecretStore.generate_key()).set("a", "b")
    wrong = LocalSecretStore(directory, LocalSecretStore.generate_key())
    for action in (lambda: wrong.get("a"), lambda: list(wrong.names()), wrong.ping):
        with pytest.raises(ConfigurationError) as caught:
            action()
        assert caught.value.setting == "LOCAL_SECRETS_KEY"


def test_local_store_rejects_a_malformed_key(tmp_path: Path) -> None:
    for key in ("not base64 !!", "c2hvcnQ="):
        with pytest.raises(ConfigurationError) as caught:
            LocalSecretStore(tmp_path, key)
        assert caught.value.setting == "LOCAL_SECRETS_KEY"


def test_local_secret_files_cannot_be_swapped(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    store = LocalSecretStore(directory, LocalSecretStore.generate_key())
    store.set("first", "1")
    store.set("second", "2")
    before = {p.name for p in _local_files(directory)}
    store.set("third", "3")
    (third,) = {p for p in _local_files(directory) if p.name not in before}
    target = next(p for p in _local_files(directory) if p.name in before and p.name != ".key-check")
    target.write_bytes(third.read_bytes())
    with pytest.raises(ConfigurationError):
        list(store.names())


# --- Key Vault specifics -----------------------------------------------------------------


def test_key_vault_names_are_valid_and_distinct() -> None:
    allowed = re.compile(r"^[0-9A-Za-z-]{1,127}$")
    names = ["conn--org--1", "a.b", "a_b", "A.B", "ünï", "///", "x" * 256, "x" * 255]
    mapped = [vault_name(n) for n in names]
    assert all(allowed.match(m) for m in mapped)
    assert len(set(m.lower() for m in mapped)) == len(names)  # Key Vault ignores case
    assert vault_name("conn--org--1").startswith("conn-org-1-")


def test_key_vault_asks_for_the_vault_scope_after_the_challenge(simulator: Any) -> None:
    credential = SimulatorCredential(simulator)
    store = KeyVaultSecretStore(
        f"{simulator.base_url}/keyvault",
        credential,
        connection_verify=str(simulator.certs.ca),
        verify_challenge_resource=False,
    )
    store.set(f"scope-{time.time_ns()}", "v")
    store.close()
    assert credential.scopes_seen
    assert all(scopes == (VAULT_SCOPE,) for scopes in credential.scopes_seen)


def test_key_vault_delete_without_purge_permission_still_allows_reuse(
    simulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = keyvault_store(simulator)
    name = f"no-purge-{time.time_ns()}"
    keyvault.configure(simulator.world, purge_allowed=False)
    try:
        store.set(name, "first")
        with caplog.at_level(logging.INFO, logger="shared.secrets.keyvault_store"):
            assert store.delete(name) is True
        assert "not purged" in caplog.text
        assert "first" not in caplog.text
        assert store.get(name) is None
        assert vault_name(name).lower() in keyvault.state(simulator.world).deleted
        store.set(name, "second")  # recovers the soft-deleted secret, then overwrites it
        assert store.get(name) == "second"
    finally:
        keyvault.configure(simulator.world, purge_allowed=True)
    assert store.delete(name) is True
    assert vault_name(name).lower() not in keyvault.state(simulator.world).deleted
    store.close()


def test_key_vault_refusal_is_secret_store_unavailable(simulator: Any) -> None:
    store = keyvault_store(simulator, client_id="someone-else")
    keyvault.configure(simulator.world, allowed_object_ids={"kv-test-app"})
    try:
        with pytest.raises(SecretStoreUnavailable):
            store.get("anything")
        with pytest.raises(SecretStoreUnavailable):
            store.set("anything", "v")
        allowed = keyvault_store(simulator)
        allowed.ping()  # the allowed principal still gets in
        allowed.close()
    finally:
        keyvault.state(simulator.world).allowed_object_ids = None
        store.close()
