"""A small v2-model FunctionApp (with a blueprint) the local-host tests run.

``build_app`` makes a fresh app per test so queue names can be unique; every invocation is
written to the returned ``Recorder`` for the test to inspect.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func


@dataclass
class Recorder:
    """Thread-safe log of (function name, observed details) the sample functions append to."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def record(self, name: str, **details: Any) -> None:
        with self._changed:
            self.calls.append((name, details))
            self._changed.notify_all()

    def of(self, name: str) -> list[dict[str, Any]]:
        with self._changed:
            return [details for called, details in self.calls if called == name]

    def wait_for(self, name: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The first ``count`` calls of ``name``; fails the test if they do not come in time."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len([c for c in self.calls if c[0] == name]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{name} ran {len(self.of(name))} times, wanted {count}")
                self._changed.wait(remaining)
            return [details for called, details in self.calls if called == name][:count]


def _json(payload: Any, status: int = 200, **headers: str) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload), status_code=status, headers=headers, mimetype="application/json"
    )


def _integrations(recorder: Recorder) -> func.Blueprint:
    bp = func.Blueprint()

    @bp.route(route="orgs/{org}/integrations/{id:int}", methods=["GET"])
    def get_integration(req: func.HttpRequest) -> func.HttpResponse:
        recorder.record("get_integration", url=req.url)
        return _json(
            {"route": dict(req.route_params), "query": dict(req.params), "method": req.method}
        )

    @bp.route(route="orgs/{org}/integrations", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def create_integration(req: func.HttpRequest) -> func.HttpResponse:
        body = req.get_json()
        return _json(
            {"org": req.route_params["org"], "body": body, "trace": req.headers.get("x-trace")},
            201,
            Location=f"/orgs/{req.route_params['org']}/integrations/7",
        )

    @bp.route(route="orgs/{org}/integrations/latest", methods=["GET"])
    def latest_integration(req: func.HttpRequest) -> func.HttpResponse:
        return _json({"which": "latest"})

    @bp.route(route="orgs/{org}/integrations/{name}", methods=["GET"])
    def integration_by_name(req: func.HttpRequest) -> func.HttpResponse:
        return _json({"which": "by-name", "name": req.route_params["name"]})

    return bp


def build_app(
    recorder: Recorder,
    *,
    queue: str | None = None,
    failing_queue: str | None = None,
    tick_schedule: str | None = None,
    parallel_queue: str | None = None,
) -> func.FunctionApp:
    """The sample app; queue and tick functions exist only when their names/schedule are given."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(_integrations(recorder))

    @app.route(route="files/{*path}", methods=["GET"])
    def get_file(req: func.HttpRequest) -> func.HttpResponse:
        return _json({"path": req.route_params.get("path")})

    @app.route(route="items/{id?}")
    def items(req: func.HttpRequest) -> func.HttpResponse:
        return _json({"id": req.route_params.get("id"), "method": req.method})

    @app.route(route="boom")
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("secret internal detail")

    @app.route(route="greet/{name:alpha}")
    async def greet(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"hello {req.route_params['name']}")

    @app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer")
    def nightly(timer: func.TimerRequest, context: func.Context) -> None:
        recorder.record(
            "nightly",
            past_due=timer.past_due,
            invocation_id=context.invocation_id,
            thread=threading.current_thread().name,
        )

    if tick_schedule is not None:

        @app.timer_trigger(schedule=tick_schedule, arg_name="timer")
        def tick(timer: func.TimerRequest) -> None:
            recorder.record("tick", at=time.monotonic(), past_due=timer.past_due)

    if queue is not None:

        @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
        def work(msg: func.QueueMessage) -> None:
            recorder.record(
                "work",
                body=msg.get_body(),
                id=msg.id,
                dequeue_count=msg.dequeue_count,
                inserted=msg.insertion_time,
            )

    if failing_queue is not None:
        # "Storage" resolves to AzureWebJobsStorage through the host's AzureWebJobs prefix.
        @app.queue_trigger(arg_name="msg", queue_name=failing_queue, connection="Storage")
        async def always_fails(msg: func.QueueMessage) -> None:
            recorder.record("always_fails", body=msg.get_body(), dequeue_count=msg.dequeue_count)
            raise ValueError("this message can never be processed")

    if parallel_queue is not None:
        # Four messages can only all pass the barrier if the host runs them at the same time.
        barrier = threading.Barrier(4, timeout=10)

        @app.queue_trigger(
            arg_name="msg", queue_name=parallel_queue, connection="AzureWebJobsStorage"
        )
        def parallel(msg: func.QueueMessage) -> None:
            barrier.wait()
            recorder.record("parallel", body=msg.get_body(), dequeue_count=msg.dequeue_count)

    return app
