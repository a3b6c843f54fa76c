"""Values placed in provider URLs: one path segment each, never a path.

A route value, a stored id or an address that ends up in a Graph or Google URL must stay one
segment. Percent-encoding (``quote(value, safe="")``) turns ``/``, ``?``, ``#`` and ``%`` into
escapes, but it leaves ``.`` and ``..`` alone, and HTTP clients and servers remove dot segments
(RFC 3986 section 5.2.4): ``/me/events/..`` is ``/me/``. Graph and the proxies in front of it
also decode ``%2F`` before routing, so ``..%2F..%2Fintegrations`` is a path again on their side.
So a value that cannot be an id is refused before any request, and every other one is encoded.

* :func:`segment`: encode one value for a path (raises :class:`InvalidProviderId` for an empty,
  dot-only or control-character value); for every value, whatever its source.
* :func:`checked`: the same check for a library that encodes path parameters itself;
* :func:`is_event_id`: the shape an event id of either provider has, checked at the HTTP edge.
  Graph ids are URL-safe base64 (letters, digits, ``-``, ``_``, ``=``); Google event ids are
  base32hex, and instances of recurring events add ``_`` and a time
  (https://developers.google.com/workspace/calendar/api/v3/reference/events#id).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from shared.errors import BadRequest

# Longest id accepted: Google allows event ids of up to 1024 characters; Graph's are ~150.
MAX_ID_LENGTH = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EVENT_ID = re.compile(rf"[A-Za-z0-9_\-=+.@:]{{1,{MAX_ID_LENGTH}}}")


class InvalidProviderId(BadRequest):
    """A value that cannot be a provider id was about to be placed in a provider URL."""

    code = "invalid_provider_id"
    title = "Not a calendar provider id"


def _refused(value: str) -> bool:
    return value.strip(".") == "" or bool(_CONTROL.search(value)) or len(value) > 4096


def segment(value: str) -> str:
    """``value`` percent-encoded as exactly one URL path segment.

    Raises :class:`InvalidProviderId` for a value no provider uses as an id (empty, only dots,
    control characters, absurdly long): those would change the path whatever the encoding.
    """
    if _refused(value):
        raise InvalidProviderId("this value cannot be a calendar provider id")
    return quote(value, safe="")


def checked(value: str) -> str:
    """``value`` unchanged, after the :func:`segment` check, for a client library that encodes
    path parameters itself (google-api-python-client expands its URI templates with every
    reserved character escaped, but keeps dot segments)."""
    segment(value)
    return value


def is_event_id(value: str) -> bool:
    """Whether ``value`` has the shape of a Graph or Google event id."""
    return _EVENT_ID.fullmatch(value) is not None and not _refused(value)


def check_event_id(value: str) -> str:
    """``value`` when it can be an event id, else ``BadRequest`` ``invalid_event_id`` (400)."""
    if not is_event_id(value):
        raise BadRequest("this is not a calendar event id", code="invalid_event_id")
    return value
