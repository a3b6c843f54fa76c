"""The service's blueprints, one module per area of the HTTP contract, plus the triggers."""

from __future__ import annotations

import azure.functions as func

from shared.http.api import ApiBlueprint


def api_blueprints() -> list[ApiBlueprint]:
    """Every HTTP blueprint (their specs make the OpenAPI document)."""
    from shared.http.routes import (
        calendar_reads,
        diagnostics,
        hostapp,
        integrations,
        me,
        meta,
        notifications,
        oauth,
        operations,
        rooms,
        webhooks,
    )

    return [
        meta.bp,
        integrations.bp,
        me.bp,
        rooms.bp,
        notifications.bp,
        diagnostics.bp,
        oauth.bp,
        webhooks.bp,
        operations.bp,
        calendar_reads.bp,
        hostapp.bp,
    ]


def all_blueprints() -> list[func.Blueprint]:
    """Every blueprint, in the order ``function_app.py`` registers them."""
    from shared.triggers import maintenance, sync

    return [*api_blueprints(), maintenance.bp, sync.bp]
