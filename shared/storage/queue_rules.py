"""Checks and the message encoding every queue sender shares, so memory and Azure agree.

Queue names: 3-63 characters, lowercase letters, digits and single hyphens, starting and ending
with a letter or digit. A message may be at most 64 KiB as stored (after base64), and become
visible at most 7 days later.
https://learn.microsoft.com/rest/api/storageservices/naming-queues-and-metadata
https://learn.microsoft.com/rest/api/storageservices/put-message
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from shared.errors import BadRequest

_QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
MAX_DELAY_SECONDS = 7 * 24 * 3600
_MAX_MESSAGE_BYTES = 64 * 1024


def check_queue_name(name: str) -> None:
    """Raise ``BadRequest`` unless ``name`` is a valid storage queue name."""
    if not _QUEUE_NAME.match(name):
        raise BadRequest(f"invalid queue name {name!r}", code="invalid_queue_name")


def check_delay(delay_seconds: int) -> None:
    """Raise ``BadRequest`` unless the delay is between 0 and 7 days."""
    if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
        raise BadRequest(
            f"delay_seconds must be 0..{MAX_DELAY_SECONDS}, got {delay_seconds}",
            code="invalid_delay",
        )


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The message as UTF-8 JSON bytes; ``BadRequest`` when it would exceed 64 KiB as base64."""
    data = json.dumps(dict(body), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if (len(data) + 2) // 3 * 4 > _MAX_MESSAGE_BYTES:
        raise BadRequest("queue message larger than 64 KiB", code="message_too_large")
    return data


def decode_body(content: bytes | str) -> dict[str, Any]:
    """A message body as sent by :func:`encode_body`."""
    value = json.loads(content)
    if not isinstance(value, dict):
        raise BadRequest("queue message is not a JSON object", code="invalid_message")
    return value
