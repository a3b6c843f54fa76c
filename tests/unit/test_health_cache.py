"""Anonymous /health does not reach storage or Key Vault on every call (issue 11, item 11)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest

from function_app import app
from shared.errors import StorageUnavailable
from shared.http.routes.meta import HEALTH_CACHE_KEY, HEALTH_CACHE_SECONDS, HealthCache
from shared.secrets.memory_store import MemorySecretStore
from shared.services import Services, use_services
from shared.settings import load_settings
from shared.storage.memory_queues import MemoryQueueSender
from shared.storage.memory_tables import MemoryTableStore

app.functions_bindings = {}
HEALTH = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}["health"]


class CountingTables(MemoryTableStore):
    def __init__(self) -> None:
        super().__init__()
        self.pings = 0
        self.down = False

    def ping(self) -> None:
        self.pings += 1
        if self.down:
            raise StorageUnavailable("storage is down")


class CountingQueues(MemoryQueueSender):
    def __init__(self) -> None:
        super().__init__()
        self.pings = 0

    def ping(self) -> None:
        self.pings += 1


class CountingSecrets(MemorySecretStore):
    def __init__(self) -> None:
        super().__init__()
        self.pings = 0

    def ping(self) -> None:
        self.pings += 1


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[CountingTables, CountingQueues, CountingSecrets]]:
    tables, queues, secrets = CountingTables(), CountingQueues(), CountingSecrets()
    settings = load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "none")})
    use_services(Services(settings, tables=tables, queues=queues, secrets=secrets))
    yield tables, queues, secrets
    use_services(None)


def get_health() -> func.HttpResponse:
    request = func.HttpRequest(method="GET", url="http://localhost/api/health", body=b"")
    response: func.HttpResponse = HEALTH(request)
    return response


def test_a_burst_of_anonymous_health_calls_probes_each_backend_once(
    stores: tuple[CountingTables, CountingQueues, CountingSecrets],
) -> None:
    for _ in range(50):
        response = get_health()
        assert response.status_code == 200
    assert [store.pings for store in stores] == [1, 1, 1]


def test_health_probes_again_once_the_cached_answer_is_old(
    stores: tuple[CountingTables, CountingQueues, CountingSecrets], tmp_path: Path
) -> None:
    tables, queues, secrets = stores
    ticks = Ticks()
    services = Services(
        load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "none")}),
        tables=tables,
        queues=queues,
        secrets=secrets,
    )
    services.built(HEALTH_CACHE_KEY, lambda _: HealthCache(ticks))
    use_services(services)

    assert get_health().status_code == 200
    tables.down = True
    ticks.now += HEALTH_CACHE_SECONDS - 1
    assert get_health().status_code == 200  # still the cached answer
    assert tables.pings == 1

    ticks.now += 1
    response = get_health()
    assert response.status_code == 503
    body = json.loads(response.get_body())
    assert body["checks"]["tables"] == {"status": "failing", "error": "storage_unavailable"}
    assert tables.pings == 2
