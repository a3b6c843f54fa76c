"""Calls to URLs someone else chose (the host app's webhook): public addresses only.

An organisation's admin sets the URL notifications are POSTed to; without a guard the service
would POST from inside its network to wherever that URL points: cloud metadata
(``169.254.169.254``), private ranges (``10.0.0.4``, ``fd00::1``), loopback spelled oddly
(``0x7f000001`` is 127.0.0.1 to the system resolver). So:

* **Scheme.** https only; http (and loopback at all) only while ``allow_loopback`` holds, i.e.
  on a developer's machine (:func:`shared.hosting.loopback_allowed`: never in Azure).
* **Addresses.** The host is resolved (an IP literal in any form the resolver accepts, or a
  name) and *every* address must be public unicast (``ipaddress`` ``is_global``, not multicast;
  IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4 address they carry).
* **At every connection.** :func:`post` resolves and checks again, then connects to the checked
  address itself, sending the name as ``Host`` and as the TLS server name (SNI), so the
  certificate is still verified for the name. A DNS answer that changes between the check and
  the connection (DNS rebinding) cannot move the connection elsewhere.
* **No redirects** are followed (a 3xx is a failed delivery) and no proxy from the environment is
  used (it would connect by name, after our check).

:class:`RefusedUrl` (400 ``invalid_webhook_url``) is raised for a URL refused when it is set;
the same class, caught by the deliverer, records ``webhook_address_refused`` at send time.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from shared.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> every address the name resolves to, as text.
Resolver = Callable[[str, int], list[str]]
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class RefusedUrl(BadRequest):
    """A URL the service will not call: wrong scheme, unresolvable, or not a public address."""

    code = "invalid_webhook_url"
    title = "Webhook URL refused"


# ``getaddrinfo`` takes no timeout and can block for as long as the system resolver retries; a
# lookup runs on a small pool and is given up after this many seconds, so neither the route that
# sets a webhook URL nor a delivery pass waits on a hung DNS server. A lookup given up on keeps
# its pool thread until the resolver answers; the pool's size bounds how many can be held so.
RESOLVE_DEADLINE_SECONDS = 5.0
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns")
Lookup = Callable[..., list[tuple[Any, ...]]]


def resolver_with_deadline(lookup: Lookup, seconds: float) -> Resolver:
    """A :data:`Resolver` over ``lookup`` (``getaddrinfo``'s signature) that gives up after
    ``seconds``: a name that does not resolve in time is refused like one that does not
    resolve."""

    def resolve(host: str, port: int) -> list[str]:
        pending = _LOOKUPS.submit(lookup, host, port, type=socket.SOCK_STREAM)
        try:
            infos = pending.result(timeout=seconds)
        except FutureTimeout as exc:
            raise RefusedUrl(
                f"the webhook host {host!r} did not resolve within {seconds:g} s"
            ) from exc
        except (OSError, UnicodeError) as exc:
            raise RefusedUrl(f"the webhook host {host!r} does not resolve") from exc
        return [str(info[4][0]) for info in infos]

    return resolve


#: Every address ``getaddrinfo`` gives for ``host`` (what a connection would use), within
#: :data:`RESOLVE_DEADLINE_SECONDS`.
system_resolver: Resolver = resolver_with_deadline(socket.getaddrinfo, RESOLVE_DEADLINE_SECONDS)


def _effective(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address stands for; else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_allowed(address: str, *, allow_loopback: bool) -> bool:
    """Whether the service may connect to ``address`` (an IP in text form)."""
    try:
        ip = _effective(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return False
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    """A checked URL: its name, port and the addresses it may be reached at."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check(
    url: str,
    *,
    allow_loopback: bool,
    resolve: Resolver = system_resolver,
    require_resolution: bool = True,
) -> Target:
    """Resolve ``url``'s host and check the scheme and every address; ``RefusedUrl`` if not.

    With ``require_resolution=False`` (when a URL is set) a name that does not resolve yet
    passes over https: the check at every connection decides then.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedUrl("the webhook URL is malformed") from exc
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("https", "http") or not host:
        raise RefusedUrl("the webhook URL must be an https URL")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("the webhook URL must not carry a user name or password")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = tuple(dict.fromkeys(resolve(host, port)))
    except RefusedUrl:
        if require_resolution or parts.scheme != "https":
            raise
        addresses = ()
    if not addresses and require_resolution:
        raise RefusedUrl(f"the webhook host {host!r} does not resolve")
    loopback_only = bool(addresses) and all(_is_loopback(a) for a in addresses)
    if parts.scheme == "http" and not (allow_loopback and loopback_only):
        raise RefusedUrl(
            "the webhook URL must use https (http is accepted for loopback addresses in local "
            "development only)"
        )
    for address in addresses:
        if not address_allowed(address, allow_loopback=allow_loopback):
            raise RefusedUrl(
                f"the webhook host {host!r} resolves to {address}, which is not a public "
                "address; webhooks are delivered to the public internet only"
            )
    return Target(url, parts.scheme, host, port, addresses)


def _is_loopback(address: str) -> bool:
    try:
        return _effective(ipaddress.ip_address(address.split("%", 1)[0])).is_loopback
    except ValueError:
        return False


def client(timeout: httpx.Timeout) -> httpx.Client:
    """An ``httpx.Client`` for :func:`post`: no redirects, no proxies from the environment."""
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


def post(
    http: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    allow_loopback: bool,
    resolve: Resolver = system_resolver,
) -> httpx.Response:
    """POST to ``url`` at an address checked now; ``RefusedUrl`` when none may be used.

    The request goes to the first checked address; the name stays in ``Host`` and in the TLS
    server name, so the certificate is verified for the name, not for the address.
    """
    target = check(url, allow_loopback=allow_loopback, resolve=resolve)
    address = target.addresses[0]
    literal = f"[{address}]" if ":" in address else address
    parts = urlsplit(url)
    pinned = urlunsplit(
        (parts.scheme, f"{literal}:{target.port}", parts.path or "/", parts.query, "")
    )
    default_port = 443 if target.scheme == "https" else 80
    name = f"[{target.host}]" if ":" in target.host else target.host
    host_header = name if target.port == default_port else f"{name}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return http.post(
        pinned,
        content=content,
        headers={**headers, "host": host_header},
        extensions=extensions,
    )
