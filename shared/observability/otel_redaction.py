"""OpenTelemetry processors that redact spans and log records before any exporter sees them.

Imported only when telemetry is configured (:mod:`shared.observability.telemetry`). Log records
are already scrubbed when created (:mod:`shared.observability.logs`); the OpenTelemetry logging
handler then adds the exception message and stack trace it renders from ``exc_info``, which
:class:`RedactingLogRecordProcessor` scrubs. HTTP client spans carry URLs with query strings:
:class:`RedactingSpanProcessor` scrubs span names, attributes and event attributes. Both must be
registered before the export processors (``configure_azure_monitor`` adds the processors passed to
it first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor

from shared.observability.redaction import redact


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return tuple(_scrub(item) for item in value)
    return value


def scrub_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of span or log attributes with every string value redacted."""
    return {key: _scrub(value) for key, value in (attributes or {}).items()}


class RedactingSpanProcessor(SpanProcessor):
    """Redacts a finished span for the processors (and exporters) after this one."""

    def on_end(self, span: ReadableSpan) -> None:
        # The SDK hands every processor the same ReadableSpan, with frozen attributes: replace
        # them (and the events') with redacted copies. Private fields of the pinned SDK; the
        # in-memory exporter test (tests/unit/test_telemetry.py) fails if that ever changes.
        span._name = redact(span.name)
        span._attributes = scrub_attributes(span.attributes)
        span._events = tuple(
            Event(event.name, scrub_attributes(event.attributes), event.timestamp)
            for event in span.events
        )


class RedactingLogRecordProcessor(LogRecordProcessor):
    """Redacts a log record's body and attributes before export."""

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        if isinstance(record.body, str):
            record.body = redact(record.body)
        if record.attributes:
            record.attributes = scrub_attributes(record.attributes)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
