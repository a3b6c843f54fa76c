"""Scrub credentials out of text before it can reach a log line.

What counts as a credential here: bearer tokens and ``Authorization`` header values, anything
shaped like a JWT, OAuth parameters (``code``, ``state`` is fine, ``access_token``,
``refresh_token``, ``id_token``, ``client_secret``, ``client_assertion``, ``code_verifier``,
``password``, ``validationToken`` is fine) in query strings, form bodies and JSON, storage account
keys and SAS signatures in connection strings and URLs, and PEM private keys. The patterns err on
the side of hiding too much.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

_SENSITIVE_KEYS = (
    "access_token|refresh_token|id_token|client_secret|client_assertion|code_verifier|code"
    "|password|secret|token|assertion|sig|accountkey|authorization|x-goog-channel-token"
    "|clientstate|client_state|api[-_]?key|private_key"
)

# Names that hold a credential whatever they are prefixed or suffixed with (``signing_secret``,
# ``webhookSecret``, ``channel_token``, ``private_key_id``...). ``code`` and ``sig`` stay exact
# names above: as parts they would hide error codes and signatures' algorithm names.
_SENSITIVE_PARTS = "secret|token|password|passwd|assertion|private_?key|api_?key|clientstate"
_SENSITIVE_NAME = (
    r"(?:" + _SENSITIVE_KEYS + r"|[A-Za-z0-9_-]*(?:" + _SENSITIVE_PARTS + r")[A-Za-z0-9_-]*)"
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # PEM blocks (service-account keys).
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        REDACTED,
    ),
    # Authorization: Bearer xyz / Basic xyz, in headers or reprs of header dicts.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + REDACTED),
    # Anything shaped like a JWT (three base64url segments, the first a JSON header).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    # JSON / dict members: "refresh_token": "..." or 'code': '...'.
    (
        re.compile(
            r"""(?i)(["']""" + _SENSITIVE_NAME + r"""["']\s*:\s*)(["'])(?:(?!\2).)*\2"""
        ),
        r"\1\2" + REDACTED + r"\2",
    ),
    # key=value in query strings, form bodies and connection strings.
    (
        re.compile(r"(?i)(?<![A-Za-z0-9_])(" + _SENSITIVE_NAME + r")=([^&\s;,'\"]+)"),
        r"\1=" + REDACTED,
    ),
    # "Authorization: xyz" header lines that are not bearer/basic.
    (
        re.compile(r"(?i)(authorization\s*[:=]\s*)(?!\[REDACTED\]|bearer\b|basic\b)[^\s,;'\"}]+"),
        r"\1" + REDACTED,
    ),
]


def redact(text: str) -> str:
    """``text`` with every credential-like substring replaced by ``[REDACTED]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
