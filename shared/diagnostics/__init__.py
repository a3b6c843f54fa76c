"""Diagnostics: known provider failures explained, with who must act and the exact fix.

The texts are data (``catalogue.toml``); :mod:`.catalogue` loads and validates them,
:mod:`.diagnose` maps raw Microsoft and Google errors onto entries, and :mod:`.page` renders
the plain HTML page an OAuth callback shows when it has nowhere to send the browser back to.
"""

from __future__ import annotations

from shared.diagnostics.catalogue import (
    PLACEHOLDERS,
    UNKNOWN,
    Catalogue,
    Diagnosis,
    Entry,
    Provider,
    Severity,
    WhoMustAct,
    load_catalogue,
)
from shared.diagnostics.diagnose import (
    diagnose,
    diagnose_google,
    diagnose_microsoft,
    diagnose_provider_error,
)
from shared.diagnostics.page import Audience, render_error_page

__all__ = [
    "PLACEHOLDERS",
    "UNKNOWN",
    "Audience",
    "Catalogue",
    "Diagnosis",
    "Entry",
    "Provider",
    "Severity",
    "WhoMustAct",
    "diagnose",
    "diagnose_google",
    "diagnose_microsoft",
    "diagnose_provider_error",
    "load_catalogue",
    "render_error_page",
]
