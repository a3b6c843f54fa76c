"""The service's blueprints, one module per area of the HTTP contract."""

from __future__ import annotations

from shared.http.api import ApiBlueprint


def all_blueprints() -> list[ApiBlueprint]:
    """Every blueprint, in the order ``function_app.py`` registers them."""
    from shared.http.routes import meta

    return [meta.bp]
