"""The Workspace user directory (Admin SDK users.list / users.get) and domain-wide delegation per
user, through google-api-python-client and google-auth's service account credentials."""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import google_auth_httplib2
import httplib2
import httpx
import pytest
from google.auth.credentials import Credentials as BaseCredentials
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from simulator.google.client import GoogleControl
from simulator.server import SimulatorServer

CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
USER_READONLY = "https://www.googleapis.com/auth/admin.directory.user.readonly"


@pytest.fixture
def google(simulator: SimulatorServer) -> Iterator[GoogleControl]:
    context = ssl.create_default_context(cafile=str(simulator.certs.ca))
    with httpx.Client(base_url=simulator.base_url, verify=context) as http:
        yield GoogleControl(http)


@pytest.fixture
def org(google: GoogleControl) -> dict[str, Any]:
    """admin (super admin), ann (alias annie), bo (suspended), cy (no alias); a delegated key."""
    domain = f"dir{uuid.uuid4().hex[:8]}.example"
    google.add_domain(domain, name="Fabrikam")
    google.add_user(f"admin@{domain}", name="Ada Admin", is_admin=True)
    ann = google.add_user(f"ann@{domain}", name="Ann Person", aliases=[f"annie@{domain}"])
    google.add_user(f"bo@{domain}", name="Bo Person", suspended=True)
    google.add_user(f"cy@{domain}", name="Cy Person")
    key = google.add_service_account("dir-" + domain.split(".")[0])
    google.grant_delegation(domain, key["client_id"], [CALENDAR_EVENTS, USER_READONLY])
    return {"domain": domain, "key": key, "ann_id": ann["id"]}


_open: list[Any] = []


@pytest.fixture(autouse=True)
def _close_services() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def acting_as(org: dict[str, Any], subject: str, scopes: list[str]) -> BaseCredentials:
    base = service_account.Credentials.from_service_account_info(org["key"])
    return base.with_scopes(scopes).with_subject(subject)


def directory(simulator: SimulatorServer, creds: BaseCredentials) -> Any:
    http = google_auth_httplib2.AuthorizedHttp(
        creds, http=httplib2.Http(ca_certs=str(simulator.certs.ca))
    )
    built = build(
        "admin",
        "directory_v1",
        http=http,
        static_discovery=True,
        client_options={"api_endpoint": f"{simulator.base_url}/google/"},
    )
    _open.append(built)
    return built


def error_of(error: HttpError) -> tuple[int, str, str]:
    body = json.loads(error.content)["error"]
    return body["code"], body["errors"][0]["reason"], body["message"]


def test_admin_lists_every_user_page_by_page_with_aliases_and_suspension(
    simulator: SimulatorServer, org: dict[str, Any]
) -> None:
    admin = directory(simulator, acting_as(org, f"admin@{org['domain']}", [USER_READONLY]))
    users = admin.users()
    request = users.list(customer="my_customer", maxResults=3, orderBy="email")
    seen: list[tuple[str, list[str], bool]] = []
    pages = 0
    while request is not None:
        page = request.execute()
        pages += 1
        seen += [(u["primaryEmail"], u.get("aliases", []), u["suspended"]) for u in page["users"]]
        request = users.list_next(request, page)
    d = org["domain"]
    assert pages == 2
    assert seen == [
        (f"admin@{d}", [], False),
        (f"ann@{d}", [f"annie@{d}"], False),
        (f"bo@{d}", [], True),
        (f"cy@{d}", [], False),
    ]


def test_query_by_email_finds_primary_addresses_and_aliases(
    simulator: SimulatorServer, org: dict[str, Any]
) -> None:
    users = directory(simulator, acting_as(org, f"admin@{org['domain']}", [USER_READONLY])).users()
    d = org["domain"]

    def found(query: str) -> list[str]:
        page = users.list(customer="my_customer", query=query).execute()
        return [u["primaryEmail"] for u in page.get("users", [])]

    assert found(f"email:ANNIE@{d}") == [f"ann@{d}"]
    assert found(f"email='ann@{d}'") == [f"ann@{d}"]
    assert found(f"email:nobody@{d}") == []
    assert found("isSuspended=true") == [f"bo@{d}"]
    assert users.get(userKey=f"annie@{d}").execute()["id"] == org["ann_id"]
    assert users.get(userKey=org["ann_id"]).execute()["primaryEmail"] == f"ann@{d}"


def test_deleted_users_leave_the_directory_and_are_listed_only_on_request(
    simulator: SimulatorServer, google: GoogleControl, org: dict[str, Any]
) -> None:
    d = org["domain"]
    google.delete_user(f"cy@{d}")
    users = directory(simulator, acting_as(org, f"admin@{d}", [USER_READONLY])).users()
    live = users.list(domain=d).execute()["users"]
    assert f"cy@{d}" not in [u["primaryEmail"] for u in live]
    deleted = users.list(customer="my_customer", showDeleted="true").execute()["users"]
    assert [u["primaryEmail"] for u in deleted] == [f"cy@{d}"]
    assert "deletionTime" in deleted[0]
    with pytest.raises(HttpError) as missing:
        users.get(userKey=f"cy@{d}").execute()
    assert error_of(missing.value) == (404, "notFound", "Resource Not Found: userKey")


def test_a_non_admin_may_not_read_the_directory(
    simulator: SimulatorServer, org: dict[str, Any]
) -> None:
    users = directory(simulator, acting_as(org, f"ann@{org['domain']}", [USER_READONLY])).users()
    with pytest.raises(HttpError) as denied:
        users.list(customer="my_customer").execute()
    assert error_of(denied.value) == (
        403,
        "forbidden",
        "Not Authorized to access this resource/api",
    )


def test_delegation_is_refused_for_aliases_suspended_deleted_and_unknown_users(
    simulator: SimulatorServer, google: GoogleControl, org: dict[str, Any]
) -> None:
    d = org["domain"]
    google.add_user(f"dee@{d}")
    google.delete_user(f"dee@{d}")
    cases = {
        f"annie@{d}": "Invalid email or User ID",
        f"bo@{d}": "Invalid email or User ID",
        f"nobody@{d}": "Invalid email or User ID",
        f"dee@{d}": "The account has been deleted",
    }
    for subject, description in cases.items():
        creds = acting_as(org, subject, [CALENDAR_EVENTS])
        with pytest.raises(RefreshError) as refused:
            creds.refresh(google_auth_request(simulator))
        assert refused.value.args[1] == {"error": "invalid_grant", "error_description": description}
    fine = acting_as(org, f"ann@{d}", [CALENDAR_EVENTS])
    fine.refresh(google_auth_request(simulator))
    assert fine.valid


def test_every_requested_scope_must_be_delegated(
    simulator: SimulatorServer, google: GoogleControl, org: dict[str, Any]
) -> None:
    d = org["domain"]
    google.grant_delegation(d, org["key"]["client_id"], [CALENDAR_EVENTS])
    creds = acting_as(org, f"admin@{d}", [CALENDAR_EVENTS, USER_READONLY])
    with pytest.raises(RefreshError) as refused:
        creds.refresh(google_auth_request(simulator))
    assert refused.value.args[1]["error"] == "unauthorized_client"


def google_auth_request(simulator: SimulatorServer) -> Any:
    import requests
    from google.auth.transport.requests import Request

    session = requests.Session()
    session.verify = str(simulator.certs.ca)
    session.trust_env = False
    _open.append(session)
    return Request(session)
