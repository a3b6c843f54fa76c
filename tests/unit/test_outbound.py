"""Webhook URLs reach public addresses only, checked on the resolved address at every
connection, with the name kept for Host and TLS."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from shared.net import outbound
from shared.net.outbound import RefusedUrl
from simulator.certs import ensure_certificates

# The addresses the review reached, and their relatives.
INTERNAL = [
    "https://169.254.169.254/latest/meta-data",
    "https://10.0.0.4/hook",
    "https://[fd00::1]/hook",
    "https://0x7f000001/hook",
    "http://127.0.0.1/hook",
    "https://127.1/hook",
    "https://[::1]/hook",
    "https://[::ffff:10.0.0.4]/hook",
    "https://[64:ff9b::a00:4]/hook",
    "https://0.0.0.0/hook",
    "https://100.64.0.1/hook",
    "https://192.168.1.10/hook",
    "https://[fe80::1]/hook",
    "https://224.0.0.1/hook",
    "https://localhost/hook",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_in_production_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(RefusedUrl) as refused:
        outbound.check(url, allow_loopback=False)
    assert refused.value.code == "invalid_webhook_url" and refused.value.status == 400


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "https://0x7f000001/hook", "http://localhost/h"]
)
def test_loopback_is_allowed_in_local_development_only(url: str) -> None:
    assert outbound.check(url, allow_loopback=True).addresses
    with pytest.raises(RefusedUrl):
        outbound.check(url, allow_loopback=False)


@pytest.mark.parametrize(
    "url", ["https://10.0.0.4/h", "https://169.254.169.254/", "ftp://203.0.113.9/", "https:///x"]
)
def test_private_addresses_and_other_schemes_are_refused_locally_too(url: str) -> None:
    with pytest.raises(RefusedUrl):
        outbound.check(url, allow_loopback=True)


def test_http_to_a_public_address_is_refused() -> None:
    with pytest.raises(RefusedUrl):
        outbound.check("http://93.184.216.34/h", allow_loopback=True)


def test_a_name_is_refused_when_any_of_its_addresses_is_internal() -> None:
    def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.4"]

    with pytest.raises(RefusedUrl):
        outbound.check("https://hooks.example/h", allow_loopback=False, resolve=resolve)


def test_a_name_that_does_not_resolve_yet_may_be_set_but_is_not_called() -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise RefusedUrl("no such host")

    target = outbound.check(
        "https://hooks.example/h", allow_loopback=False, resolve=resolve, require_resolution=False
    )
    assert target.addresses == ()
    with pytest.raises(RefusedUrl):
        outbound.check("https://hooks.example/h", allow_loopback=False, resolve=resolve)


def test_the_connection_goes_to_the_checked_address_with_the_name_for_host_and_tls() -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(app)) as http:
        response = outbound.post(
            http,
            "https://hooks.example:8443/calendar?x=1",
            content=b"{}",
            headers={"content-type": "application/json"},
            allow_loopback=False,
            resolve=lambda host, port: ["93.184.216.34"],
        )
    assert response.status_code == 204
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34:8443/calendar?x=1"
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"


def test_a_name_that_rebinds_to_an_internal_address_after_the_check_is_not_called() -> None:
    answers = iter([["93.184.216.34"], ["169.254.169.254"]])
    seen: list[httpx.Request] = []

    def resolve(host: str, port: int) -> list[str]:
        return next(answers)

    url = "https://hooks.example/h"
    outbound.check(url, allow_loopback=False, resolve=resolve)  # when the admin set it

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(app)) as http, pytest.raises(RefusedUrl):
        outbound.post(http, url, content=b"", headers={}, allow_loopback=False, resolve=resolve)
    assert seen == []


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    certs = ensure_certificates(tmp_path)
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            hosts.append(self.headers["host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], certs.ca, hosts
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_for_the_name_while_connecting_to_the_address(
    tls_server: tuple[int, Path, list[str]],
) -> None:
    port, ca, hosts = tls_server
    verify = ssl.create_default_context(cafile=str(ca))
    with httpx.Client(verify=verify, trust_env=False) as http:
        response = outbound.post(
            http,
            f"https://localhost:{port}/h",
            content=b"{}",
            headers={},
            allow_loopback=True,
            resolve=lambda host, p: ["127.0.0.1"],
        )
        assert response.status_code == 204
        assert hosts == [f"localhost:{port}"]
        # A name the certificate does not cover fails verification, though the address is the same.
        with pytest.raises(httpx.ConnectError):
            outbound.post(
                http,
                f"https://not-in-the-cert.localhost:{port}/h",
                content=b"{}",
                headers={},
                allow_loopback=True,
                resolve=lambda host, p: ["127.0.0.1"],
            )


def test_a_name_whose_lookup_hangs_is_refused_after_the_deadline() -> None:
    released = threading.Event()

    def hung_lookup(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        released.wait(30)  # a DNS server that never answers
        return []

    resolve = outbound.resolver_with_deadline(hung_lookup, 0.2)
    try:
        with pytest.raises(RefusedUrl, match="did not resolve within"):
            outbound.check("https://hooks.example.com/in", allow_loopback=False, resolve=resolve)
        # When a URL is set, a name that cannot be resolved now is left to the delivery's check.
        target = outbound.check(
            "https://hooks.example.com/in",
            allow_loopback=False,
            resolve=resolve,
            require_resolution=False,
        )
        assert target.addresses == ()
    finally:
        released.set()
