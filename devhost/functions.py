"""Discover the functions of a v2-model FunctionApp and invoke them as the Python worker does.

The worker binds the trigger to the parameter named by the binding (``arg_name``), passes a
``context`` argument when the function declares one, runs ``async def`` functions on the event loop
and plain functions in a thread pool
(https://learn.microsoft.com/azure/azure-functions/python-scale-performance-reference).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import inspect
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions._abc import RetryContext, TraceContext

logger = logging.getLogger("devhost")

HTTP, TIMER, QUEUE = "httpTrigger", "timerTrigger", "queueTrigger"
SUPPORTED_TRIGGERS = (HTTP, TIMER, QUEUE)


class UnsupportedFunction(Exception):
    """The app declares a trigger or binding the local host does not implement."""


@dataclass(frozen=True)
class FunctionEntry:
    """One function of the app, as the host indexes it."""

    name: str
    trigger_type: str
    trigger: Any
    user_function: Callable[..., Any]
    arg_name: str
    wants_context: bool

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)


def load_app(spec: func.FunctionApp | str, app_dir: Path) -> func.FunctionApp:
    """The FunctionApp given directly or as ``"module:attribute"`` importable from app_dir."""
    if not isinstance(spec, str):
        return spec
    module_name, _, attribute = spec.partition(":")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    module = importlib.import_module(module_name)
    app = getattr(module, attribute or "app")
    if not isinstance(app, func.FunctionApp):
        raise TypeError(f"{spec} is a {type(app).__name__}, not an azure.functions.FunctionApp")
    return app


def discover(app: func.FunctionApp) -> list[FunctionEntry]:
    """Index the app's functions (blueprints included).

    ``get_functions`` records names in ``functions_bindings`` to enforce uniqueness and raises on a
    second call (azure-functions 1.26), so the record is cleared first: the host may index an app
    that something else (a test, another host) indexed before.
    """
    app.functions_bindings = {}
    entries = []
    for function in app.get_functions():
        trigger = function.get_trigger()
        name = str(function.get_function_name())
        if trigger is None or trigger.type not in SUPPORTED_TRIGGERS:
            kind = getattr(trigger, "type", None)
            raise UnsupportedFunction(f"function {name}: trigger {kind!r} is not supported locally")
        for binding in function.get_bindings():
            if binding is trigger or (binding.type == "http" and binding.name == "$return"):
                continue
            raise UnsupportedFunction(
                f"function {name}: binding {binding.name!r} of type {binding.type!r} is not "
                "supported by the local host; use the SDK from the function instead"
            )
        user_function = function.get_user_function()
        parameters = inspect.signature(user_function).parameters
        entries.append(
            FunctionEntry(
                name=name,
                trigger_type=trigger.type,
                trigger=trigger,
                user_function=user_function,
                arg_name=trigger.name,
                wants_context="context" in parameters,
            )
        )
    return entries


class _TraceContext(TraceContext):
    def __init__(self) -> None:
        self._parent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """The ``context`` argument: invocation id and function name, like the worker's."""

    _local = threading.local

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> RetryContext:
        return _RetryContext()


async def invoke(entry: FunctionEntry, trigger_value: Any, reason: str, app_dir: Path) -> Any:
    """Run one invocation on the running loop and return the function's result.

    Logs the host's ``Executing``/``Executed`` lines with the invocation id; a failure is logged
    with its traceback and re-raised for the trigger to handle (500, queue retry, ...).
    """
    invocation_id = str(uuid.uuid4())
    kwargs: dict[str, Any] = {entry.arg_name: trigger_value}
    if entry.wants_context:
        kwargs["context"] = InvocationContext(invocation_id, entry.name, str(app_dir))
    extra = {"function_name": entry.name, "invocation_id": invocation_id}
    logger.info(
        "Executing 'Functions.%s' (Reason='%s', Id=%s)",
        entry.name,
        reason,
        invocation_id,
        extra=extra,
    )
    started = time.perf_counter()
    try:
        if entry.is_async:
            result = await entry.user_function(**kwargs)
        else:
            loop = asyncio.get_running_loop()
            call = functools.partial(entry.user_function, **kwargs)
            # Carry context variables into the worker thread, as asyncio.to_thread does.
            result = await loop.run_in_executor(None, contextvars.copy_context().run, call)
    except Exception:
        logger.exception(
            "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)",
            entry.name,
            invocation_id,
            (time.perf_counter() - started) * 1000,
            extra=extra,
        )
        raise
    logger.info(
        "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
        entry.name,
        invocation_id,
        (time.perf_counter() - started) * 1000,
        extra=extra,
    )
    return result
