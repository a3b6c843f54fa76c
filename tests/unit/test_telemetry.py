"""Telemetry: off unless configured, nothing imported; redaction in front of every exporter.

The OpenTelemetry SDK is wired here as ``configure_azure_monitor`` wires it (our processors first,
then an export processor), with in-memory exporters in place of Application Insights.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.observability import metrics
from shared.observability.otel_redaction import (
    RedactingLogRecordProcessor,
    RedactingSpanProcessor,
)
from shared.observability.telemetry import configure_telemetry
from shared.settings import APP_ROOT
from shared.storage.memory_queues import MemoryQueueSender

REFRESH = "1.AXEA-refresh-token-value-that-must-not-leak"
CODE = "0.ARoA-authorization-code-that-must-not-leak"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGV4In0.c2lnbmF0dXJlLXZhbHVl"


def test_without_a_connection_string_nothing_is_configured_or_imported() -> None:
    probe = (
        "import sys\n"
        "from shared.observability.telemetry import configure_telemetry\n"
        "from shared.observability import metrics\n"
        "assert configure_telemetry({}) is False\n"
        "metrics.sync_run('failed', 'sync_failed')\n"
        "print(sorted(m for m in ('opentelemetry', 'azure.monitor.opentelemetry') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=APP_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert configure_telemetry({}) is False
    assert not metrics.enabled()


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_no_token_or_code_reaches_an_exported_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    url = f"https://app.example/api/oauth/microsoft/callback?code={CODE}&state=s1"
    with tracer.start_as_current_span(f"GET {url}") as span:
        span.set_attribute("url.full", url)
        span.set_attribute("http.request.header.authorization", [f"Bearer {JWT}"])
        span.add_event("token", {"body": json.dumps({"refresh_token": REFRESH})})
    (exported,) = exporter.get_finished_spans()
    text = exported.to_json()
    for value in (REFRESH, CODE, JWT):
        assert value not in text
    assert exported.attributes is not None
    assert exported.attributes["url.full"] == (
        "https://app.example/api/oauth/microsoft/callback?code=[REDACTED]&state=s1"
    )


def test_no_token_reaches_an_exported_log_even_from_an_exception() -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(RedactingLogRecordProcessor())
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger("tests.telemetry")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"token endpoint said refresh_token={REFRESH} code={CODE}")
        except RuntimeError:
            logger.exception("exchange failed for Bearer %s", JWT)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    (record,) = exporter.get_finished_logs()
    text = record.to_json()
    for value in (REFRESH, CODE, JWT):
        assert value not in text
    assert "exchange failed" in text and "RuntimeError" in text


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics.enable(provider)
    yield reader
    metrics.disable()
    provider.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, object], object]]]:
    data = reader.get_metrics_data()
    found: dict[str, list[tuple[dict[str, object], object]]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = getattr(point, "count", None)
                    found.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
    return found


def test_each_metric_has_its_documented_dimensions(reader: InMemoryMetricReader) -> None:
    queues = MemoryQueueSender()
    queues.send("sync-calendar", {"org": "o", "calendar": "c"})
    metrics.sync_run("synced")
    metrics.sync_run("reconnect")
    metrics.sync_run("failed", "provider_denied")
    metrics.sync_run("throttled")
    with metrics.webhook_ack("google"):
        pass
    metrics.sample_queues(queues, ("sync-calendar",))
    found = points(reader)
    assert set(found) == set(metrics.ALL_METRICS)
    assert sorted(a["outcome"] for a, _ in found[metrics.CALENDARS_SYNCED]) == [
        "failed",
        "reconnect",
        "synced",
        "throttled",
    ]
    assert {a["kind"] for a, _ in found[metrics.SYNC_FAILURES]} == {
        "reconnect_needed",
        "provider_denied",
    }
    assert found[metrics.WEBHOOK_ACK_MS] == [({"provider": "google"}, 1)]
    assert found[metrics.QUEUE_DEPTH] == [({"queue": "sync-calendar"}, 1)]
    assert found[metrics.POISON_MESSAGES] == [({"queue": "sync-calendar-poison"}, 0)]
    text = (APP_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for name in metrics.ALL_METRICS:
        assert f"| `{name}` |" in text
