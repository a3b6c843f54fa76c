"""Where a consent flow may send the browser back to: only allow-listed URLs (no open redirect).

``ALLOWED_RETURN_URLS`` lists URL prefixes. A ``return_to`` is accepted when it is an absolute
http(s) URL with the same scheme, host and port as an allowed entry and a path inside the entry's
path (``https://app.example/settings`` allows ``.../settings`` and ``.../settings/calendar``, not
``.../settings-evil``). URLs with credentials, backslashes or control characters are refused
outright: browsers normalise those in ways that have enabled open redirects elsewhere.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit, urlunsplit

from shared.errors import BadRequest

_SUSPICIOUS = re.compile(r"[\\\x00-\x1f\x7f]")


def _parts(url: str) -> tuple[str, str, int | None, str]:
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise ValueError("not an absolute http(s) URL")
    if split.username or split.password:
        raise ValueError("credentials in URL")
    port = split.port or (443 if split.scheme == "https" else 80)
    return split.scheme, split.hostname.lower(), port, split.path or "/"


def check_return_to(return_to: str, allowed: list[str]) -> str:
    """``return_to`` if allowed; ``BadRequest`` (``return_to_not_allowed``) otherwise."""
    refusal = BadRequest(
        "return_to is not one of the allowed return URLs", code="return_to_not_allowed"
    )
    if not return_to or _SUSPICIOUS.search(return_to):
        raise refusal
    try:
        scheme, host, port, path = _parts(return_to)
    except ValueError as exc:
        raise refusal from exc
    for entry in allowed:
        try:
            a_scheme, a_host, a_port, a_path = _parts(entry)
        except ValueError:
            continue
        if (scheme, host, port) != (a_scheme, a_host, a_port):
            continue
        base = a_path.rstrip("/")
        if path == base or path.startswith(base + "/") or base == "":
            return return_to
    raise refusal


def with_params(url: str, **params: str) -> str:
    """``url`` with query parameters added (existing ones kept)."""
    split = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{split.query}&{extra}" if split.query else extra
    return urlunsplit((split.scheme, split.netloc, split.path, query, split.fragment))
