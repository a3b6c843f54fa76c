"""The published OpenAPI document and the registered HTTP functions never drift apart."""

from __future__ import annotations

import json

import azure.functions as func

from function_app import app
from shared.http.api import RouteSpec
from shared.http.fallback import FALLBACK_FUNCTION
from shared.http.openapi import build_openapi, openapi_path
from shared.http.routes import api_blueprints
from shared.http.routes.meta import VERSION


def registered_http_functions(function_app: func.FunctionApp) -> dict[tuple[str, str], str]:
    """(path, method) -> function name, for every HTTP trigger the Functions host would index."""
    function_app.functions_bindings = {}  # get_functions() refuses a second call otherwise
    found: dict[tuple[str, str], str] = {}
    for function in function_app.get_functions():
        trigger = function.get_trigger()
        if trigger.type != "httpTrigger" or function.get_function_name() == FALLBACK_FUNCTION:
            # The catch-all answers 404/405 for what no operation takes; it is not one.
            continue
        spec = RouteSpec(
            name="", route=trigger.route, methods=(), auth="anonymous", summary="", tag=""
        )
        methods = [str(m.value if hasattr(m, "value") else m) for m in (trigger.methods or [])]
        for method in methods or ["GET", "POST", "PUT", "PATCH", "DELETE"]:
            found[(openapi_path(spec, "api"), method.lower())] = function.get_function_name()
    return found


def documented_operations() -> dict[tuple[str, str], str]:
    specs = [spec for blueprint in api_blueprints() for spec in blueprint.specs]
    document = build_openapi(specs, version=VERSION)
    return {
        (path, method): operation["operationId"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def test_every_registered_http_function_is_documented_and_nothing_else() -> None:
    assert registered_http_functions(app) == documented_operations()


def test_the_document_is_served_as_openapi_3_1() -> None:
    app.functions_bindings = {}
    function = next(f for f in app.get_functions() if f.get_function_name() == "openapi")
    request = func.HttpRequest(method="GET", url="http://localhost/api/openapi.json", body=b"")
    response = function.get_user_function()(request)
    document = json.loads(response.get_body())
    assert response.status_code == 200
    assert document["openapi"] == "3.1.0"
    assert "/api/health" in document["paths"]
    assert "Problem" in document["components"]["schemas"]
