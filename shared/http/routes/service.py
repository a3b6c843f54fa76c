"""Admin routes of service (app-only) integrations: credentials, people, per-person sync."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.http.api import ApiBlueprint, ApiRequest
from shared.http.flows import service_integrations
from shared.http.routes.integrations import IntegrationView, outcome_view
from shared.http.routes.operations import SyncedPerson, workspace_people
from shared.http.service_views import ServiceCredentials, plain
from shared.integrations.model import Kind
from shared.service.manager import status_label
from shared.service.registry import type_label

bp = ApiBlueprint("service-integrations")
INTEGRATION = "orgs/{org}/integrations/{id}"


class CredentialsIn(BaseModel):
    credentials: ServiceCredentials = Field(
        description="The new secret or certificate (tenant_id/client_id kept unless given); "
        "people and event mappings are kept"
    )


@bp.api(
    f"{INTEGRATION}/credentials",
    name="rotate_service_credentials",
    methods=("PATCH",),
    auth="admin",
    summary="Rotate a service integration's secret or certificate, then rerun its setup check",
    body=CredentialsIn,
    response=IntegrationView,
)
def rotate_credentials(request: ApiRequest) -> IntegrationView:
    body: CredentialsIn = request.body
    outcome = service_integrations(request.services).rotate(
        request.route["org"],
        request.route["id"],
        request.require_caller().subject,
        plain(body.credentials),
    )
    return outcome_view(outcome)


class PersonView(BaseModel):
    id: str = Field(description="The host app's person id")
    name: str
    email: str
    matched: bool
    directory_id: str | None = Field(
        default=None, description="The directory user's immutable id (Entra object id)"
    )
    reason: str | None = Field(
        default=None,
        description="Why unmatched: not_found, ambiguous, no_mailbox, outside_scope, disabled, "
        "guest (or not_matched_yet)",
    )
    sync: bool = Field(description="Sync enabled for this person")
    last_sync: datetime | None = Field(default=None, description="Last successful sync")
    last_error: str | None = Field(default=None, description="Last error code of their sync")
    type: str = Field(description="Microsoft Exchange or Google")
    integration_name: str
    integration_status: Literal["Active", "Inactive"]


class PeopleView(BaseModel):
    items: list[PersonView | SyncedPerson] = Field(
        description="Service integrations: every host-app person (PersonView); workspace "
        "integrations: the people who connected or tried to (SyncedPerson)"
    )


@bp.api(
    f"{INTEGRATION}/people",
    name="service_people",
    auth="admin",
    summary="The integration's people: for a service integration every host-app person, matched "
    "or not (with the reason), sync on or off, last sync; for a workspace integration the people "
    "who connected or tried to, with their last sync and latest error",
    response=PeopleView,
)
def list_people(request: ApiRequest) -> PeopleView:
    manager = service_integrations(request.services)
    integration = manager.ctx.integrations.get(request.route["org"], request.route["id"])
    if integration.kind is not Kind.SERVICE:
        return PeopleView(items=list(workspace_people(request).items))
    label = type_label(integration.provider.value)
    state = status_label(integration)
    return PeopleView(
        items=[
            PersonView(
                id=row.person,
                name=row.name,
                email=row.email,
                matched=row.matched,
                directory_id=row.directory_id,
                reason=row.reason,
                sync=row.sync,
                last_sync=row.last_sync,
                last_error=row.last_error,
                type=label,
                integration_name=integration.name,
                integration_status=state,  # type: ignore[arg-type]
            )
            for row in manager.rows(request.route["org"], request.route["id"])
        ]
    )


class SyncSwitch(BaseModel):
    sync: bool = Field(
        description="false: stop this person's sync (subscription removed, no push or pull); "
        "true: start it again (a full resync; no event is created twice)"
    )


class PersonSync(BaseModel):
    id: str
    sync: bool
    matched: bool


@bp.api(
    f"{INTEGRATION}/people/{{person}}",
    name="service_person_sync",
    methods=("PATCH",),
    auth="admin",
    summary="Stop or start one person's sync under a service integration",
    body=SyncSwitch,
    response=PersonSync,
)
def switch_person(request: ApiRequest) -> PersonSync:
    body: SyncSwitch = request.body
    mapping = service_integrations(request.services).set_sync(
        request.route["org"], request.route["id"], request.route["person"], body.sync
    )
    return PersonSync(id=mapping.person, sync=mapping.sync, matched=mapping.matched)
