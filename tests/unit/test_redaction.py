"""No token, secret, authorization header or OAuth code reaches a log line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared.observability.logs import JsonFormatter, configure_logging, correlation
from shared.observability.redaction import redact

SECRETS = [
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl",
    "0.AAAAp9Zr-authorization-code-value",
    "M.C123_refresh-token-value!",
    "client-secret~value.123",
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq==",
]


@pytest.mark.parametrize(
    "line",
    [
        f"Authorization: Bearer {SECRETS[0]}",
        f"callback GET /api/oauth/microsoft/callback?code={SECRETS[1]}&state=abc",
        f'token response {{"refresh_token": "{SECRETS[2]}", "expires_in": 3600}}',
        f"form body client_secret={SECRETS[3]}&grant_type=client_credentials",
        f"DefaultEndpointsProtocol=http;AccountName=dev;AccountKey={SECRETS[4]};",
        f"headers {{'authorization': 'Bearer {SECRETS[0]}'}}",
        f"id_token={SECRETS[0]}",
        # Names that only contain a credential word: a webhook's signing secret, a channel token.
        f'settings {{"signing_secret": "{SECRETS[3]}", "url": "https://example.com/hook"}}',
        f"{{'webhookSecret': '{SECRETS[3]}'}}",
        f"channel_token={SECRETS[2]}&resource=abc",
        f'key file {{"private_key_id": "{SECRETS[4]}"}}',
    ],
)
def test_credentials_are_redacted_from_text(line: str) -> None:
    cleaned = redact(line)
    assert not any(secret in cleaned for secret in SECRETS), cleaned
    assert "[REDACTED]" in cleaned


def test_ordinary_text_is_left_alone() -> None:
    line = "synced 12 events for calendar 42 in 0.3 s (state=ok, delta=3)"
    assert redact(line) == line


def test_error_codes_and_names_beside_credentials_are_kept() -> None:
    line = '{"error_code": "AADSTS7000215", "code": "invalid_client"}'
    assert "AADSTS7000215" in redact(line)


def test_records_from_any_logger_are_redacted_with_their_correlation_id() -> None:
    configure_logging("INFO", "json")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    library_logger = logging.getLogger("msal.some_library")
    library_logger.addHandler(handler)
    try:
        with correlation("corr-123"):
            library_logger.warning("token request failed for %s", f"Bearer {SECRETS[0]}")
            try:
                raise RuntimeError(f"refresh failed: refresh_token={SECRETS[2]}")
            except RuntimeError:
                library_logger.exception("while refreshing code=%s", SECRETS[1])
    finally:
        library_logger.removeHandler(handler)
    output = stream.getvalue()
    assert not any(secret in output for secret in SECRETS), output
    first, second = (json.loads(line) for line in output.strip().splitlines())
    assert first["correlation_id"] == "corr-123"
    assert "[REDACTED]" in first["message"]
    assert "RuntimeError" in second["exception"]
