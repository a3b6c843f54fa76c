"""The stores of service integrations, on the in-memory twin and on Azurite: people mappings
keep a person's sync switch across re-matching, settings rows never hold the credential, and
erasing an integration leaves nothing of it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from devhost.azurite import Azurite
from shared.errors import NotFound
from shared.secrets.memory_store import MemorySecretStore
from shared.service.config import ServiceConfigs, credential_secret_name
from shared.service.model import DirectoryUser, Match, MatchReason, ServiceConfig
from shared.service.people_map import ServicePeople
from shared.storage.azure_tables import AzureTableStore
from shared.storage.memory_tables import MemoryTableStore
from shared.storage.tables import TableStore

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_prefixes = itertools.count()


@pytest.fixture(params=["memory", "azure"])
def store(request: pytest.FixtureRequest) -> Iterator[TableStore]:
    if request.param == "memory":
        yield MemoryTableStore()
        return
    azurite: Azurite = request.getfixturevalue("azurite")
    prefix = f"ss{next(_prefixes)}x{datetime.now(UTC).strftime('%H%M%S%f')}"
    azure = AzureTableStore.from_connection_string(azurite.connection_string, table_prefix=prefix)
    yield azure
    azure.close()


def test_rematching_keeps_the_sync_switch_and_records_the_new_outcome(store: TableStore) -> None:
    people = ServicePeople(store)
    ada = DirectoryUser("id-ada", "ada@contoso.example", "Ada")
    people.record_match("org|1", "int", "p/ada", "ada@contoso.example", Match.found(ada), NOW)
    mapping = people.get("org|1", "int", "p/ada")
    assert mapping is not None and mapping.syncs
    mapping.sync = False
    people.save(mapping)

    again = people.record_match(
        "org|1", "int", "p/ada", "ada@contoso.example", Match.found(ada, "mail"), NOW
    )
    assert (again.sync, again.directory_id, again.syncs) == (False, "id-ada", False)
    lost = people.record_match(
        "org|1", "int", "p/ada", "ada@contoso.example", Match.unmatched(MatchReason.GUEST), NOW
    )
    assert (lost.directory_id, lost.reason, lost.sync) == (None, MatchReason.GUEST, False)
    assert [m.person for m in people.of_integration("org|1", "int")] == ["p/ada"]
    assert people.of_integration("org|1", "other") is not None
    assert list(people.of_integration("org|1", "other")) == []
    assert people.erase_integration("org|1", "int") == 1
    assert people.get("org|1", "int", "p/ada") is None


def test_a_match_has_a_user_or_a_reason_never_both() -> None:
    with pytest.raises(ValueError, match="either a user or a reason"):
        Match(user=DirectoryUser("x", "x@example.com"), reason=MatchReason.AMBIGUOUS)
    with pytest.raises(ValueError, match="either a user or a reason"):
        Match()


def test_settings_rows_hold_no_secret_and_round_trip(store: TableStore) -> None:
    secrets = MemorySecretStore()
    configs = ServiceConfigs(store, secrets)
    secret = json.dumps({"client_secret": "abc~very-secret-value"})
    configs.set_secret("int1", secret)
    saved = configs.save(
        ServiceConfig(
            org="org|1",
            integration_id="int1",
            provider="microsoft",
            credential_type="client_secret",
            settings={"tenant_id": "t", "client_id": "c"},
            credential_expires_on=NOW + timedelta(days=30),
            probe_mailbox="ada@contoso.example",
            credential_set_at=NOW,
        )
    )
    loaded = configs.get("org|1", "int1")
    assert (loaded.settings, loaded.credential_expires_on, loaded.probe_mailbox) == (
        {"tenant_id": "t", "client_id": "c"},
        NOW + timedelta(days=30),
        "ada@contoso.example",
    )
    assert configs.secret(loaded) == secret
    assert credential_secret_name("int1").startswith("int-int1-")
    row = store.get("serviceconfig", "org%7C1", "int1") or store.get(
        "serviceconfig", "org|1", "int1"
    )
    assert row is not None and "very-secret" not in json.dumps(row.fields, default=str)

    loaded.credential_version += 1
    configs.save(loaded)
    assert configs.get("org|1", "int1").credential_version == 2
    assert saved.etag is not None
    assert configs.delete("org|1", "int1") == 1
    with pytest.raises(NotFound):
        configs.get("org|1", "int1")
