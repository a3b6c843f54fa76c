"""Module-level app for the ``python -m devhost`` test (the CLI loads ``module:attribute``)."""

from __future__ import annotations

from tests.devhost.sample_app import Recorder, build_app

app = build_app(Recorder())
