"""Deterministic, client-supplied Google event ids.

Calendar v3 ``events.insert`` accepts an ``id`` chosen by the client: "characters allowed in the
ID are those used in base32hex encoding, i.e. lowercase letters a-v and digits 0-9 ... the length
of the ID must be between 5 and 1024 characters" and it must be unique per calendar
(https://developers.google.com/workspace/calendar/api/v3/reference/events/insert). Deriving it
from our idempotency key makes a retried insert answer 409 ``duplicate`` instead of creating a
second event.
"""

from __future__ import annotations

import base64
import hashlib
import re

EVENT_ID_PATTERN = re.compile(r"^[a-v0-9]{5,1024}$")


def event_id(key: str) -> str:
    """The Google event id for our idempotency ``key``: base32hex (lower case, no padding) of
    the key's SHA-256, 52 characters of ``[a-v0-9]``."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()
