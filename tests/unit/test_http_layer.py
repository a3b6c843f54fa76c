"""The HTTP layer: problem+json for every error, auth before parsing, correlation ids."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest
from pydantic import BaseModel, Field

from shared.auth.mint import mint
from shared.http.api import MAX_JSON_DEPTH, ApiBlueprint, ApiRequest, Reply
from shared.services import Services, use_services
from shared.settings import Settings, load_settings


class NewThing(BaseModel):
    name: str = Field(min_length=1)
    size: int = Field(ge=1)


class Thing(BaseModel):
    org: str
    name: str
    size: int


bp = ApiBlueprint("test")


@bp.api(
    "orgs/{org}/things",
    name="create_thing",
    methods=("POST",),
    auth="admin",
    summary="Create a thing",
    body=NewThing,
    response=Thing,
    status=201,
)
def create_thing(request: ApiRequest) -> Thing:
    body: NewThing = request.body
    return Thing(org=request.route["org"], name=body.name, size=body.size)


@bp.api("orgs/{org}/boom", name="boom", auth="user", summary="Fails unexpectedly")
def boom(request: ApiRequest) -> Reply:
    raise RuntimeError("database password is hunter2")


@bp.api("hooks", name="raw_json", methods=("POST",), auth="anonymous", summary="Echo")
def raw_json(request: ApiRequest) -> Reply:
    return Reply(status=200, body=request.raw_body, content_type="application/json")


_release = threading.Event()


@bp.api(
    "slow",
    name="slow",
    methods=("POST",),
    auth="anonymous",
    summary="Waits until released",
    deadline="webhook_deadline_seconds",
)
def slow(request: ApiRequest) -> Reply:
    _release.wait(30)
    return Reply(status=202)


app = func.FunctionApp()
app.register_blueprint(bp)
FUNCTIONS = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = load_settings(
        {"LOCAL_SETTINGS_FILE": str(tmp_path / "none"), "AUTH_SHARED_SECRET": "s" * 40}
    )
    use_services(Services(settings))
    yield settings
    use_services(None)


def call(
    name: str,
    *,
    org: str = "contoso",
    token: str | None = None,
    body: bytes = b"",
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    all_headers = dict({"Content-Type": "application/json"} if headers is None else headers)
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = func.HttpRequest(
        method=method,
        url=f"http://localhost/api/orgs/{org}/things",
        headers=all_headers,
        params={},
        route_params={"org": org},
        body=body,
    )
    response: func.HttpResponse = FUNCTIONS[name](request)
    return response


def problem(response: func.HttpResponse) -> dict[str, object]:
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, object] = json.loads(response.get_body())
    assert body["status"] == response.status_code
    assert body["correlation_id"] == response.headers["X-Correlation-Id"]
    return body


def test_an_admin_creates_a_thing(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="ada", roles=["admin"])
    response = call("create_thing", token=token, body=b'{"name": "desk", "size": 2}')
    assert response.status_code == 201
    assert json.loads(response.get_body()) == {"org": "contoso", "name": "desk", "size": 2}


def test_bad_json_is_a_400_invalid_json(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="ada", roles=["admin"])
    response = call("create_thing", token=token, body=b'{"name": "desk",')
    assert response.status_code == 400
    assert problem(response)["code"] == "invalid_json"


def test_a_body_over_the_size_limit_is_413_whatever_it_declares(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="ada", roles=["admin"])
    limit = settings.max_request_body_bytes
    padded = b'{"name": "desk", "size": 2, "pad": "' + b"x" * limit + b'"}'
    response = call("create_thing", token=token, body=padded)
    assert response.status_code == 413
    assert problem(response)["code"] == "payload_too_large"
    declared = call(
        "create_thing",
        token=token,
        body=b'{"name": "desk", "size": 2}',
        headers={"Content-Type": "application/json", "Content-Length": str(limit + 1)},
    )
    assert (declared.status_code, problem(declared)["limit"]) == (413, limit)


def test_a_json_body_sent_as_text_is_415(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="ada", roles=["admin"])
    body = b'{"name": "desk", "size": 2}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        headers = {"Content-Type": content_type} if content_type else {}
        response = call("create_thing", token=token, body=body, headers=headers)
        assert response.status_code == 415, content_type
        assert problem(response)["code"] == "unsupported_media_type"
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = call(
            "create_thing", token=token, body=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 201, content_type


def test_json_nested_beyond_the_bound_is_a_400_not_a_500(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="ada", roles=["admin"])
    for depth in (MAX_JSON_DEPTH + 1, 100_000):
        nested = b'{"name": "desk", "size": 2, "x": ' + b"[" * depth + b"]" * depth + b"}"
        response = call("create_thing", token=token, body=nested)
        assert response.status_code == 400, depth
        assert problem(response)["code"] == "json_too_deep"
    at_bound = b'{"name": "desk", "size": 2, "x": ' + b"[" * (MAX_JSON_DEPTH - 1)
    response = call("create_thing", token=token, body=at_bound + b"]" * (MAX_JSON_DEPTH - 1) + b"}")
    assert response.status_code == 201


def test_a_raw_json_route_refuses_malformed_json_before_its_handler_runs(
    settings: Settings,
) -> None:
    response = call("raw_json", body=b'{"value": [')
    assert (response.status_code, problem(response)["code"]) == (400, "invalid_json")
    response = call("raw_json", body=b'{"value": []}')
    assert (response.status_code, response.get_body()) == (200, b'{"value": []}')


def test_a_route_past_its_deadline_answers_503_with_retry_after(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "LOCAL_SETTINGS_FILE": str(tmp_path / "none"),
            "AUTH_SHARED_SECRET": "s" * 40,
            "WEBHOOK_DEADLINE_SECONDS": "0.2",
        }
    )
    use_services(Services(settings))
    try:
        response = call("slow")
    finally:
        _release.set()
        use_services(None)
    assert response.status_code == 503
    assert problem(response)["code"] == "deadline_exceeded"
    assert response.headers["Retry-After"] == "1"


def test_bad_fields_are_a_400_naming_each_field(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="ada", roles=["admin"])
    response = call("create_thing", token=token, body=b'{"name": "", "size": 0}')
    assert response.status_code == 400
    body = problem(response)
    assert body["code"] == "validation_failed"
    fields = {error["field"] for error in body["errors"]}  # type: ignore[attr-defined]
    assert fields == {"body.name", "body.size"}


def test_no_token_is_401_before_the_body_is_read(settings: Settings) -> None:
    response = call("create_thing", body=b"not json")
    assert response.status_code == 401
    assert problem(response)["code"] == "missing_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_for_another_org_is_403(settings: Settings) -> None:
    token = mint(settings, org="fabrikam", sub="ada", roles=["admin"])
    response = call("create_thing", token=token, body=b'{"name": "desk", "size": 2}')
    assert response.status_code == 403
    assert problem(response)["code"] == "wrong_org"


def test_a_user_without_the_admin_role_is_403(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="bob")
    response = call("create_thing", token=token, body=b'{"name": "desk", "size": 2}')
    assert response.status_code == 403
    assert problem(response)["code"] == "role_required"


def test_an_unexpected_error_is_a_bare_500_with_a_correlation_id(settings: Settings) -> None:
    token = mint(settings, org="contoso", sub="bob")
    response = call("boom", token=token, method="GET", headers={"X-Correlation-Id": "trace-42"})
    assert response.status_code == 500
    body = problem(response)
    assert body["code"] == "internal_error"
    assert body["correlation_id"] == "trace-42"
    assert "hunter2" not in response.get_body().decode()
    assert "RuntimeError" not in response.get_body().decode()
