"""End-to-end: a sync run produces the documented metrics, and no token or secret is exported.

OpenTelemetry is wired as ``configure_azure_monitor`` wires it in Azure (the redacting processors
first, then export), with in-memory exporters in place of Application Insights: the meter
provider through :func:`shared.observability.metrics.enable`, the logging handler on the root
logger, and the HTTP client instrumentations the distro turns on (requests for msal, httpx for
Graph) on a tracer provider of this test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.observability import metrics
from shared.observability.otel_redaction import RedactingLogRecordProcessor, RedactingSpanProcessor
from tests.e2e.conftest import GOOGLE_SECRET, MICROSOFT_SECRET, Stack
from tests.e2e.sync_support import ADMIN
from tests.e2e.tenants import put_secret_meeting_in_outlook
from tests.e2e.test_webhooks import (
    graph_subscription,
    microsoft_calendar,
    runs,
    sync_now,
    wait_for,
)
from tests.unit.test_telemetry import points


@dataclass
class Exported:
    metrics: InMemoryMetricReader
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter


@pytest.fixture
def exported() -> Iterator[Exported]:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    spans = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(RedactingSpanProcessor())
    tracer.add_span_processor(SimpleSpanProcessor(spans))
    logs = InMemoryLogRecordExporter()
    loggers = LoggerProvider()
    loggers.add_log_record_processor(RedactingLogRecordProcessor())
    loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(logger_provider=loggers)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)  # as configure_logging sets it in Azure
    metrics.enable(meters)
    RequestsInstrumentor().instrument(tracer_provider=tracer)
    HTTPXClientInstrumentor().instrument(tracer_provider=tracer)
    root.addHandler(handler)
    try:
        yield Exported(reader, spans, logs)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        HTTPXClientInstrumentor().uninstrument()
        RequestsInstrumentor().uninstrument()
        metrics.disable()
        meters.shutdown()
        tracer.shutdown()
        loggers.shutdown()


def test_a_sync_run_produces_the_documented_metrics_and_exports_no_secret(
    stack: Stack, org: str, exported: Exported
) -> None:
    cal = microsoft_calendar(stack, org)
    sync_now(stack, cal)
    sub = graph_subscription(stack, cal)
    put_secret_meeting_in_outlook(stack, cal.email)
    stack.sim.graph.wait_for_deliveries(
        lambda log: any(d.get("outcome") == "delivered" for d in log),
        subscription_id=sub.id,
        kind="change",
    )
    stack.host.wait_until_idle()
    stack.host.invoke("sync_cycle")
    stack.host.wait_until_idle(timeout=60)
    # Graph resets every connection: the next run fails and is retried later.
    stack.sim.add_fault_rule(area="graph", reset_probability=1.0)
    try:
        before = runs(stack, cal)
        response = stack.call(
            "POST",
            f"orgs/{org}/integrations/{cal.integration}/sync",
            org=org,
            sub="ada",
            roles=ADMIN,
        )
        assert response.status_code == 202, response.text
        wait_for(lambda: runs(stack, cal) > before, timeout=30)
    finally:
        stack.sim.clear_faults()
    stack.host.wait_until_idle(timeout=60)

    found = points(exported.metrics)
    assert set(found) == set(metrics.ALL_METRICS), found
    outcomes = {a["outcome"] for a, _ in found[metrics.CALENDARS_SYNCED]}
    assert {"synced", "retrying"} <= outcomes
    # The stack is shared: other scenarios' calendars (Google channels among them) may report
    # meanwhile, so this run's points are looked for among theirs.
    assert {"kind": "provider_unavailable"} in [a for a, _ in found[metrics.SYNC_FAILURES]]
    assert {"provider": "microsoft"} in [a for a, _ in found[metrics.WEBHOOK_ACK_MS]]
    assert {a["queue"] for a, _ in found[metrics.QUEUE_DEPTH]} == {
        "sync-calendar",
        "notify-host-app",
    }
    assert {a["queue"] for a, _ in found[metrics.POISON_MESSAGES]} == {
        "sync-calendar-poison",
        "notify-host-app-poison",
    }

    # What must never be exported: the client secrets and every token the service holds.
    store = stack.services.secrets
    held = [store.get(name) for name in store.names()]
    secrets = [MICROSOFT_SECRET, GOOGLE_SECRET, *(value for value in held if value)]
    assert len(secrets) > 2
    spans = [span.to_json() for span in exported.spans.get_finished_spans()]
    logs = [record.to_json() for record in exported.logs.get_finished_logs()]
    assert spans and logs
    for text in spans + logs:
        for secret in secrets:
            assert secret not in text
