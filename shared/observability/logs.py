"""Structured logs with a correlation id, and redaction that no log line can bypass.

:func:`configure_logging` installs a log-record factory, so every record from every logger (ours,
msal's, azure-core's, the Functions worker's) is redacted when it is created: the message is
formatted with its arguments, scrubbed by :func:`~shared.observability.redaction.redact`, and the
exception text is pre-rendered and scrubbed too. Each record carries the ``correlation_id`` of the
invocation that produced it (a context variable set by the HTTP layer and the triggers).
"""

from __future__ import annotations

import contextvars
import json
import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from shared.observability.redaction import redact

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
_installed_factory: Callable[..., logging.LogRecord] | None = None


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def correlation(correlation_id: str | None = None) -> Iterator[str]:
    """Run a block with a correlation id (a new one unless given)."""
    value = correlation_id or new_correlation_id()
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)


def _redacting_factory(base: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        scrub_record(record)
        record.correlation_id = _correlation_id.get()
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    return factory


def scrub_record(record: logging.LogRecord) -> None:
    """Redact a record in place: message with arguments, and exception text."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the record
        message = f"{record.msg!r} {record.args!r}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id:
            entry["correlation_id"] = correlation_id
        for key in ("org", "integration", "function"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = redact("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(entry, default=str)


class RedactingFilter(logging.Filter):
    """For handlers that records reach without our factory (e.g. created before it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def install_redaction() -> None:
    """Redact every log record from now on (cheap, no I/O; safe to call at import)."""
    global _installed_factory
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacting", False):
        _installed_factory = _redacting_factory(current)
        logging.setLogRecordFactory(_installed_factory)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Install redaction for every record, and a handler if the root logger has none.

    Idempotent. Under the Azure Functions worker the root logger already has the worker's handler;
    we keep it and add the redaction filter to it as well.
    """
    install_redaction()
    root = logging.getLogger()
    if not root.handlers:
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(
            JsonFormatter()
            if fmt == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        root.addHandler(handler)
    for existing in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in existing.filters):
            existing.addFilter(RedactingFilter())
    root.setLevel(level)
    quiet_azure_sdk(level)


def quiet_azure_sdk(level: str = "INFO") -> None:
    """azure-core logs every request and response header at INFO: keep that for DEBUG runs."""
    for noisy in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
