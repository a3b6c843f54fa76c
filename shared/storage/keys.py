"""Safe Table storage keys from arbitrary identifiers (org ids, user subjects, provider ids).

Table storage forbids ``/ \\ # ?`` and control characters in keys. :func:`encode_key`
percent-encodes exactly those (and ``%`` itself), so keys stay readable and the encoding is
reversible with :func:`decode_key`.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[%/\\#?\x00-\x1f\x7f-\x9f]")
_ESCAPE = re.compile(r"%([0-9A-F]{2})")


def encode_key(value: str) -> str:
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value)


def decode_key(value: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def join_key(*parts: str) -> str:
    """A composite key; parts are encoded, so the separator cannot be forged by a part."""
    return "|".join(encode_key(p).replace("|", "%7C") for p in parts)
