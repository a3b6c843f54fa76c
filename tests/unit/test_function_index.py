"""The lazily registered function app is the app the blueprints declare.

``function_app`` registers its functions from ``shared/function_index.json`` so that a cold start
imports no route module; these tests keep that file and the blueprints the same thing.
"""

from __future__ import annotations

import azure.functions as func

from shared.function_index import build_index, lazy_app, load_index
from shared.http.routes import all_blueprints

REGENERATE = "run `python -m shared.function_index` after changing a function"


def _bindings(app: func.FunctionApp) -> list[tuple[str, str]]:
    """Each function's name and bindings, in registration order (it decides between routes)."""
    app.functions_bindings = {}  # get_functions refuses a second indexing otherwise
    return [(str(f.get_function_name()), f.get_function_json()) for f in app.get_functions()]


def test_the_committed_index_is_the_one_the_blueprints_make() -> None:
    assert load_index() == build_index(), REGENERATE


def test_the_lazy_app_declares_exactly_the_functions_and_bindings_of_the_blueprints() -> None:
    eager = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in all_blueprints():
        eager.register_blueprint(blueprint)
    assert _bindings(lazy_app()) == _bindings(eager), REGENERATE


def test_the_catch_all_route_is_registered_last() -> None:
    assert load_index()[-1]["name"] == "route_fallback"


def test_a_lazy_function_calls_the_real_one() -> None:
    app = lazy_app()
    app.functions_bindings = {}
    (openapi,) = [f for f in app.get_functions() if f.get_function_name() == "openapi"]
    request = func.HttpRequest("GET", "http://localhost/api/openapi.json", body=b"")
    response = openapi.get_user_function()(req=request)
    assert response.status_code == 200
    assert b'"openapi"' in response.get_body()
