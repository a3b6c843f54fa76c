"""The OpenAPI document is complete enough to build a portal on (issue 13, "The contract").

Every operation has a description and examples, every error it can answer is declared with the
problem schema, error codes and who_must_act are closed sets, redirects say where they lead.
That every status a route really answers is declared is checked by running the end-to-end suite
against the document (tests/e2e/openapi_recorder.py, asserted when the session ends).
"""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest

from shared.diagnostics.catalogue import WhoMustAct
from shared.errors import ServiceError
from shared.http import contract
from shared.http.openapi import build_openapi
from shared.http.routes import api_blueprints
from shared.http.routes.meta import VERSION
from shared.settings import APP_ROOT

SPECS = [spec for blueprint in api_blueprints() for spec in blueprint.specs]
DOCUMENT = build_openapi(SPECS, version=VERSION)
OPERATIONS = [
    (path, method, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]
IDS = [f"{method.upper()} {path}" for path, method, _ in OPERATIONS]


def test_every_operation_is_described_in_the_contract_and_nothing_stale_is() -> None:
    names = {spec.name for spec in SPECS}
    assert names - set(contract.OPERATIONS) == set(), "describe them in shared/http/contract.py"
    assert set(contract.OPERATIONS) - names == set(), "operations that no longer exist"


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_each_operation_has_descriptions_and_examples(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    assert len(operation["description"]) >= 40, "a description, not a title"
    for parameter in operation["parameters"]:
        assert parameter["description"], parameter["name"]
    body = operation.get("requestBody")
    if body is not None:
        assert "example" in body["content"]["application/json"], "request example"
    for status, response in operation["responses"].items():
        assert response["description"], status
        for media_type, media in response.get("content", {}).items():
            if int(status) < 300 and media_type == "application/json":
                assert "example" in media, f"response {status} example"


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_every_error_response_is_a_problem(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    for status, response in operation["responses"].items():
        if int(status) >= 400:
            (media_type,) = response["content"]
            assert media_type == "application/problem+json"
            schema = response["content"][media_type]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}
    assert "500" in operation["responses"]
    if "security" in operation:
        assert {"401", "403"} <= set(operation["responses"])


def test_redirects_say_where_they_lead_and_what_return_to_gets() -> None:
    redirects = [
        (path, operation)
        for path, _, operation in OPERATIONS
        if "302" in operation["responses"]
    ]
    assert len(redirects) >= 4
    for path, operation in redirects:
        response = operation["responses"]["302"]
        assert "Location" in response["headers"], path
        assert len(response["description"]) >= 30, path
    callbacks = {
        operation["operationId"]: operation["responses"]["302"]["description"]
        for _, operation in redirects
    }
    assert "calendar=connected" in callbacks["oauth_microsoft_callback"]
    assert "code=<diagnostics" in callbacks["oauth_google_callback"]
    assert "admin_consent=granted" in callbacks["oauth_microsoft_admin_consent"]
    assert "test=passed" in callbacks["oauth_microsoft_callback"]


def _service_error_codes() -> set[str]:
    found: set[str] = set()
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        code = cls.__dict__.get("code")
        if isinstance(code, str):
            found.add(code)
    return found


def test_error_codes_are_a_closed_set_covering_every_code_the_code_raises() -> None:
    schema = DOCUMENT["components"]["schemas"]["Problem"]["properties"]["code"]
    assert set(schema["enum"]) == contract.ERROR_CODES
    literal: set[str] = set()
    for path in (APP_ROOT / "shared").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        literal.update(re.findall(r'\bcode="([a-z][a-z0-9_]*)"', text))
    missing = (literal | _service_error_codes()) - contract.ERROR_CODES
    assert missing == set(), "add them to ERROR_CODES in shared/http/contract.py"


def test_who_must_act_is_an_enum_wherever_it_appears() -> None:
    expected = set(get_args(WhoMustAct))
    seen = 0
    for name, schema in DOCUMENT["components"]["schemas"].items():
        prop = schema.get("properties", {}).get("who_must_act")
        if prop is not None:
            seen += 1
            assert set(prop.get("enum", [])) == expected, name
    assert seen >= 2


def test_every_property_has_a_description_and_no_stale_one_is_kept() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    missing = [
        f"{name}.{prop}"
        for name, schema in schemas.items()
        for prop, value in schema.get("properties", {}).items()
        if not value.get("description")
    ]
    assert missing == [], "describe them in the model or in contract.PROPERTIES"
    stale = [
        f"{name}.{prop}"
        for name, props in contract.PROPERTIES.items()
        for prop in props
        if prop not in schemas.get(name, {}).get("properties", {})
    ]
    assert stale == []
