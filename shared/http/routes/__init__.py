"""The service's blueprints, one module per area of the HTTP contract, plus the triggers."""

from __future__ import annotations

import azure.functions as func

from shared.http.api import ApiBlueprint, RouteSpec


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
        service,
        webhooks,
    )

    return [
        meta.bp,
        integrations.bp,
        service.bp,
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


def fallback_blueprint() -> func.Blueprint:
    """Problem+json 404/405 for what no API function takes (shared/http/fallback.py)."""
    from shared.http import fallback

    def specs() -> list[RouteSpec]:
        return [spec for blueprint in api_blueprints() for spec in blueprint.specs]

    return fallback.blueprint(specs)


def all_blueprints() -> list[func.Blueprint]:
    """Every blueprint, in the order the app registers them (``shared/function_index.py``)."""
    from shared.triggers import maintenance, sync

    # Last: the catch-all route.
    return [*api_blueprints(), maintenance.bp, sync.bp, fallback_blueprint()]
