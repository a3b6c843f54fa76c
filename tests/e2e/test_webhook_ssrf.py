"""The organisation's webhook URL cannot point the service at internal addresses: refused when
it is set (400) and, for a URL stored earlier or a name that now resolves elsewhere, when a
notification is sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.http.flows import sync_context
from shared.storage.keys import encode_key
from shared.sync.delivery import CURSOR_ROW, WEBHOOK_SETTINGS
from tests.e2e.conftest import Stack
from tests.e2e.sync_support import ADMIN


@pytest.fixture
def loopback_receiver() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("content-length", "0"))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    finally:
        server.shutdown()
        server.server_close()


def put_url(stack: Stack, org: str, url: str) -> tuple[int, str]:
    response = stack.call(
        "PUT",
        f"orgs/{org}/notification-settings",
        org=org,
        sub="ada",
        roles=ADMIN,
        json={"url": url},
    )
    return response.status_code, str(response.json().get("code", ""))


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.4/hooks",
        "https://[fd00::1]/hooks",
        "https://[::ffff:169.254.169.254]/hooks",
        "http://x.example/hooks",
    ],
)
def test_internal_webhook_urls_are_refused_when_set(stack: Stack, org: str, url: str) -> None:
    assert put_url(stack, org, url) == (400, "invalid_webhook_url")


def test_in_azure_loopback_is_refused_when_set_and_when_sent(
    stack: Stack,
    org: str,
    loopback_receiver: tuple[str, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = loopback_receiver
    # Stored while the service ran on a developer's machine, where loopback is allowed.
    assert put_url(stack, org, url)[0] == 200

    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "instance-1")  # the platform says: Azure
    for refused in ("https://0x7f000001/hooks", "http://127.0.0.1/hooks", url):
        assert put_url(stack, org, refused) == (400, "invalid_webhook_url"), refused

    outbox = sync_context(stack.services).consent.outbox
    outbox.append(org, "sync_failing", {"calendar": "x", "error": "denied"})
    stack.host.invoke("sync_cycle")  # enqueues a delivery pass for the organisation
    stack.host.wait_until_idle(timeout=60)

    assert received == []
    tables = stack.services.tables
    row = tables.get(WEBHOOK_SETTINGS, encode_key(org), CURSOR_ROW)
    assert row is not None and row.get_str("last_error") == "webhook_address_refused"
    # The organisation drops its webhook, so the scheduled retry finds nothing to do and the
    # shared local host is idle for the next test.
    for entity in tables.query(WEBHOOK_SETTINGS, encode_key(org)):
        tables.delete(WEBHOOK_SETTINGS, entity.partition_key, entity.row_key)
    stack.host.wait_until_idle(timeout=60)
