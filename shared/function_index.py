"""The function app's index: every function's name, bindings and module, loaded on first use.

The Functions worker imports ``function_app.py`` before a new instance serves anything, so what it
imports is part of every cold start. Registering the blueprints themselves would import every
route module and, through them, pydantic, PyJWT and cryptography, httpx and the sync engine. So
``function_app`` registers the functions from ``function_index.json`` instead: the same names and
the same bindings (the host sees no difference), each function a small stub that imports its
module on its first invocation and calls the real function from then on.

``function_index.json`` is generated from the blueprints: after adding, renaming or changing a
function, run ``python -m shared.function_index``. ``tests/unit/test_function_index.py`` fails
with that instruction while the file and the blueprints differ.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func

INDEX_FILE = Path(__file__).with_name("function_index.json")

# Where the app's blueprints come from, in registration order: ``module`` (its ``bp``) or
# ``module:factory`` (a function that builds the blueprint).
BLUEPRINT_MODULES = (
    "shared.http.routes.meta",
    "shared.http.routes.integrations",
    "shared.http.routes.service",
    "shared.http.routes.me",
    "shared.http.routes.rooms",
    "shared.http.routes.notifications",
    "shared.http.routes.diagnostics",
    "shared.http.routes.oauth",
    "shared.http.routes.webhooks",
    "shared.http.routes.operations",
    "shared.http.routes.calendar_reads",
    "shared.http.routes.hostapp",
    "shared.triggers.maintenance",
    "shared.triggers.sync",
    "shared.http.routes:fallback_blueprint",  # the catch-all route comes last
)

# The parameter type the worker binds for each trigger.
_ARG_TYPES: dict[str, tuple[Any, Any]] = {
    "httpTrigger": (func.HttpRequest, func.HttpResponse),
    "timerTrigger": (func.TimerRequest, None),
    "queueTrigger": (func.QueueMessage, None),
}


def _functions_of(source: str) -> list[func.Function]:
    module_name, _, factory = source.partition(":")
    module = importlib.import_module(module_name)
    blueprint = getattr(module, factory)() if factory else module.bp
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    # A blueprint of triggers only would make get_functions log that the auth level does not
    # apply (azure-functions 1.x): true, and noise in the logs of every first invocation.
    app._require_auth_level = True
    app.register_blueprint(blueprint)
    return list(app.get_functions())


def build_index() -> list[dict[str, Any]]:
    """The index from the blueprints themselves (imports every module)."""
    return [
        {
            "name": str(function.get_function_name()),
            "module": module_name,
            "bindings": json.loads(function.get_function_json())["bindings"],
        }
        for module_name in BLUEPRINT_MODULES
        for function in _functions_of(module_name)
    ]


def load_index() -> list[dict[str, Any]]:
    """The committed index (no module of the app is imported)."""
    entries: list[dict[str, Any]] = json.loads(INDEX_FILE.read_text(encoding="utf-8"))
    return entries


_loaded: dict[str, dict[str, Callable[..., Any]]] = {}
_lock = threading.Lock()


def user_function(module_name: str, name: str) -> Callable[..., Any]:
    """The real function ``name`` of ``module_name`` (the module is imported on first use)."""
    with _lock:
        functions = _loaded.get(module_name)
        if functions is None:
            functions = {
                str(f.get_function_name()): f.get_user_function()
                for f in _functions_of(module_name)
            }
            _loaded[module_name] = functions
    return functions[name]


def _stub(module_name: str, name: str, arg: str, trigger: str) -> Callable[..., Any]:
    arg_type, returns = _ARG_TYPES[trigger]

    def stub(*args: Any, **kwargs: Any) -> Any:
        return user_function(module_name, name)(*args, **kwargs)

    parameter = inspect.Parameter(arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=arg_type)
    stub.__signature__ = inspect.Signature([parameter], return_annotation=returns)  # type: ignore[attr-defined]
    stub.__annotations__ = {arg: arg_type, "return": returns}
    stub.__name__ = stub.__qualname__ = name
    stub.__module__ = module_name
    return stub


def _register(app: func.FunctionApp, entry: dict[str, Any]) -> None:
    name, module_name = entry["name"], entry["module"]
    (trigger,) = [b for b in entry["bindings"] if b["type"] in _ARG_TYPES]
    stub = _stub(module_name, name, trigger["name"], trigger["type"])
    if trigger["type"] == "httpTrigger":
        decorator = app.route(
            route=trigger.get("route"),
            methods=trigger.get("methods"),
            auth_level=func.AuthLevel[trigger.get("authLevel", "ANONYMOUS")],
        )
    elif trigger["type"] == "timerTrigger":
        decorator = app.timer_trigger(
            schedule=trigger["schedule"],
            arg_name=trigger["name"],
            run_on_startup=trigger.get("runOnStartup"),
            use_monitor=trigger.get("useMonitor"),
        )
    else:
        decorator = app.queue_trigger(
            arg_name=trigger["name"],
            queue_name=trigger["queueName"],
            connection=trigger["connection"],
        )
    app.function_name(name)(decorator(stub))


def lazy_app() -> func.FunctionApp:
    """The function app from the committed index; modules load on first invocation."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for entry in load_index():
        _register(app, entry)
    return app


def main() -> None:
    """Write ``function_index.json`` from the blueprints."""
    INDEX_FILE.write_text(json.dumps(build_index(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {INDEX_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
