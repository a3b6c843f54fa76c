"""The HTTP layer: problem+json for every error, auth before parsing, correlation ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest
from pydantic import BaseModel, Field

from shared.auth.mint import mint
from shared.http.api import ApiBlueprint, ApiRequest, Reply
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
    all_headers = dict(headers or {})
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
