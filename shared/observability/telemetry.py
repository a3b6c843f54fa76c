"""Logs, traces and metrics to Application Insights, only when it is configured.

Microsoft documents the Azure Monitor OpenTelemetry distro (``azure-monitor-opentelemetry``,
``configure_azure_monitor``) for Python apps, Functions included. :func:`configure_telemetry`
calls it once per process when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set (infra sets it),
and does nothing otherwise: locally nothing changes and nothing is imported. It runs when the
services are first built, never at import (Flex Consumption gives the app 30 s to start).

Redaction sits in front of every exporter: the processors of
:mod:`shared.observability.otel_redaction` run before the distro's export processors, which it
adds after the ones passed in.

With ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` of ``Authorization=AAD`` (local auth is off in
infra), telemetry is sent with the app's managed identity (``AZURE_CLIENT_ID``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from shared.observability import metrics

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AUTHENTICATION_STRING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"

# Instrumentations of the distro for frameworks this app does not use.
_UNUSED_INSTRUMENTATIONS = ("django", "fastapi", "flask", "psycopg2")

_lock = threading.Lock()
_configured = False


def telemetry_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether Application Insights is configured for this process."""
    env = os.environ if environ is None else environ
    return bool(env.get(CONNECTION_STRING))


def _credential(env: Mapping[str, str]) -> Any:
    if "authorization=aad" not in env.get(AUTHENTICATION_STRING, "").lower():
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = env.get("AZURE_CLIENT_ID") or None
    return ManagedIdentityCredential(client_id=client_id)


def configure_telemetry(environ: Mapping[str, str] | None = None) -> bool:
    """Send logs, traces and metrics to Application Insights if configured; once per process."""
    global _configured
    env = os.environ if environ is None else environ
    if not telemetry_configured(env):
        return False
    with _lock:
        if _configured:
            return True
        from azure.monitor.opentelemetry import configure_azure_monitor

        from shared.observability.otel_redaction import (
            RedactingLogRecordProcessor,
            RedactingSpanProcessor,
        )

        configure_azure_monitor(
            connection_string=env[CONNECTION_STRING],
            credential=_credential(env),
            logger_name="",
            span_processors=[RedactingSpanProcessor()],
            log_record_processors=[RedactingLogRecordProcessor()],
            instrumentation_options={name: {"enabled": False} for name in _UNUSED_INSTRUMENTATIONS},
            enable_live_metrics=False,
        )
        metrics.enable()
        _configured = True
        return True
