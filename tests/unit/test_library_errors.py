"""Every library's outage maps to "unavailable" in our one exception tree, wherever it escapes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import httplib2
import httpx
import pytest
import requests
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from google.auth.exceptions import RefreshError
from google.auth.exceptions import TransportError as GoogleTransportError
from googleapiclient.errors import HttpError
from msal.exceptions import MsalServiceError

from shared.errors import ProviderUnavailable, StorageUnavailable, from_library
from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.services import Services, use_services
from shared.settings import load_settings


def _google_http_error(status: int) -> HttpError:
    return HttpError(httplib2.Response({"status": status}), b'{"error": {}}')


def _retryable_refresh() -> RefreshError:
    # google-auth marks a token endpoint's 5xx/429 answer retryable.
    return RefreshError("token endpoint 503", retryable=True)


def _requests_404() -> requests.exceptions.HTTPError:
    response = requests.Response()
    response.status_code = 404
    return requests.exceptions.HTTPError("404", response=response)


OUTAGES: list[tuple[BaseException, type[Exception], str]] = [
    (MsalServiceError("HTTP Error: 503", error=None, error_description=None),
     ProviderUnavailable, "microsoft"),
    (requests.exceptions.ConnectTimeout("connect timed out"), ProviderUnavailable, "provider"),
    (httpx.ReadTimeout("read timed out"), ProviderUnavailable, "provider"),
    (httpx.HTTPStatusError("502", request=httpx.Request("GET", "https://x"),
                           response=httpx.Response(502)), ProviderUnavailable, "provider"),
    (GoogleTransportError("unreachable"), ProviderUnavailable, "google"),
    (_retryable_refresh(), ProviderUnavailable, "google"),
    (_google_http_error(503), ProviderUnavailable, "google"),
    (httplib2.ServerNotFoundError("no such host"), ProviderUnavailable, "google"),
    (TimeoutError("timed out"), ProviderUnavailable, "provider"),
    (ServiceRequestError("connection refused"), StorageUnavailable, ""),
    (ServiceResponseError("read timed out"), StorageUnavailable, ""),
]  # fmt: skip


@pytest.mark.parametrize(("raised", "kind", "provider"), OUTAGES)
def test_a_library_outage_is_unavailable(
    raised: BaseException, kind: type[Exception], provider: str
) -> None:
    mapped = from_library(raised)
    assert isinstance(mapped, kind)
    assert mapped.status == 503
    if provider:
        assert isinstance(mapped, ProviderUnavailable) and mapped.provider == provider


@pytest.mark.parametrize(
    "raised",
    [
        ValueError("a bug"),
        KeyError("a bug"),
        _google_http_error(404),
        RefreshError("invalid_grant"),
        _requests_404(),
    ],
)
def test_what_is_not_an_outage_is_left_alone(raised: BaseException) -> None:
    assert from_library(raised) is None


bp = ApiBlueprint("test-outages")


@bp.api("outage", name="outage", methods=("POST",), auth="anonymous", summary="Fails")
def outage(request: ApiRequest) -> Reply:
    raise MsalServiceError("HTTP Error: 503", error=None, error_description=None)


app = func.FunctionApp()
app.register_blueprint(bp)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[None]:
    settings = load_settings(
        {"LOCAL_SETTINGS_FILE": str(tmp_path / "x"), "AUTH_SHARED_SECRET": "s" * 40}
    )
    use_services(Services(settings))
    yield
    use_services(None)


def test_an_msal_outage_escaping_a_route_is_a_503_provider_unavailable_not_a_500(
    services: None,
) -> None:
    (function,) = [f.get_user_function() for f in app.get_functions()]
    response = function(
        func.HttpRequest(method="POST", url="http://localhost/api/outage", headers={},
                         params={}, route_params={}, body=b"")
    )  # fmt: skip
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert b'"code": "provider_unavailable"' in response.get_body()
