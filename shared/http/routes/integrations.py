"""Admin routes: integrations, the test flow, enable/disable, admin consent."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.consent.testflow import TestResult
from shared.consent.testruns import TestStatus
from shared.diagnostics.catalogue import WhoMustAct, load_catalogue
from shared.errors import BadRequest, Conflict
from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.http.flows import (
    callbacks,
    consent_context,
    consent_test_flow,
    retention,
    service_integrations,
)
from shared.http.limits import MAX_URL
from shared.http.service_views import (
    DeleteQuery,
    MatchingView,
    ServiceCredentials,
    ServiceSettingsView,
    plain,
    service_view,
)
from shared.integrations.lifecycle import DEFAULT_NAMES
from shared.integrations.model import HistoryEntry, Integration, Kind, Provider
from shared.service.erase import erase_service
from shared.service.manager import Outcome, status_label
from shared.service.registry import type_label

bp = ApiBlueprint("integrations")
INTEGRATION = "orgs/{org}/integrations/{id}"


class NewIntegration(BaseModel):
    kind: Literal["workspace", "service"] = Field(
        description="workspace: each user consents (delegated access). service: app-only "
        "credentials an administrator registers once; the host app's people are matched to "
        "directory users by email and synced without per-user consent. Several service "
        "integrations may exist beside a workspace one."
    )
    provider: Provider
    name: str | None = Field(default=None, min_length=1, max_length=100)
    credentials: ServiceCredentials | None = Field(
        default=None,
        description="service kind only: the app's credentials. Stored in the secret store at "
        "once; never returned or logged.",
    )


class HistoryItem(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: str = ""


class IntegrationView(BaseModel):
    id: str
    kind: Kind
    provider: Provider
    name: str
    type: str = Field(description="Microsoft Exchange or Google (service) / the suite (workspace)")
    state: Literal["Active", "Inactive"] = Field(
        description="Active: enabled (for the service kind: its last setup check passed); "
        "Inactive: anything else"
    )
    status: str
    created_at: datetime
    created_by: str
    tenant: str | None = None
    test_passed_at: datetime | None = None
    enabled_at: datetime | None = None
    enabled_by: str | None = None
    disabled_at: datetime | None = None
    disabled_by: str | None = None
    purge_at: datetime | None = Field(
        default=None, description="When a disabled integration's consent and data are erased"
    )
    history: list[HistoryItem] | None = None
    service: ServiceSettingsView | None = Field(
        default=None, description="service kind: which credential is set (never its value)"
    )
    check: TestResultView | None = Field(
        default=None, description="service kind, on create: the setup check's result"
    )
    matching: MatchingView | None = None


class IntegrationList(BaseModel):
    items: list[IntegrationView]


def view(
    integration: Integration,
    history: list[HistoryEntry] | None = None,
    service: ServiceSettingsView | None = None,
) -> IntegrationView:
    return IntegrationView(
        id=integration.id,
        kind=integration.kind,
        provider=integration.provider,
        name=integration.name,
        type=type_label(integration.provider.value)
        if integration.kind is Kind.SERVICE
        else DEFAULT_NAMES[integration.provider],
        state=status_label(integration),  # type: ignore[arg-type]
        status=integration.status.value,
        created_at=integration.created_at,
        created_by=integration.created_by,
        tenant=integration.tenant,
        test_passed_at=integration.test_passed_at,
        enabled_at=integration.enabled_at,
        enabled_by=integration.enabled_by,
        disabled_at=integration.disabled_at,
        disabled_by=integration.disabled_by,
        purge_at=integration.purge_at,
        history=None
        if history is None
        else [
            HistoryItem(at=h.at, actor=h.actor, action=h.action, detail=h.detail) for h in history
        ],
        service=service,
    )


@bp.api(
    "orgs/{org}/integrations",
    name="list_integrations",
    auth="admin",
    summary="The organisation's calendar integrations",
    response=IntegrationList,
)
def list_integrations(request: ApiRequest) -> IntegrationList:
    ctx = consent_context(request.services)
    return IntegrationList(
        items=[
            view(i, service=service_view(request.services, i))
            for i in ctx.integrations.for_org(request.route["org"])
        ]
    )


@bp.api(
    "orgs/{org}/integrations",
    name="create_integration",
    methods=("POST",),
    auth="admin",
    summary="Create a calendar integration (then run its test flow and enable it)",
    body=NewIntegration,
    response=IntegrationView,
    status=201,
)
def create_integration(request: ApiRequest) -> IntegrationView:
    body: NewIntegration = request.body
    ctx = consent_context(request.services)
    if body.kind == "service":
        outcome = service_integrations(request.services).create(
            request.route["org"],
            request.require_caller().subject,
            body.provider,
            body.name,
            None if body.credentials is None else plain(body.credentials),
        )
        return outcome_view(outcome)
    if body.credentials is not None:
        raise BadRequest(
            "credentials belong to service integrations only", code="unexpected_credentials"
        )
    integration = ctx.lifecycle.create(
        request.route["org"],
        request.require_caller().subject,
        kind=Kind(body.kind),
        provider=body.provider,
        name=body.name,
    )
    return view(integration)


@bp.api(
    INTEGRATION,
    name="get_integration",
    auth="admin",
    summary="One integration with its history (who did what, when)",
    response=IntegrationView,
)
def get_integration(request: ApiRequest) -> IntegrationView:
    ctx = consent_context(request.services)
    integration = ctx.integrations.get(request.route["org"], request.route["id"])
    return view(
        integration,
        ctx.integrations.history(integration),
        service_view(request.services, integration),
    )


@bp.api(
    INTEGRATION,
    name="delete_integration",
    methods=("DELETE",),
    auth="admin",
    summary="Erase an integration now (workspace: not while enabled): tokens, connections, "
    "test results, history; service kind: also people and event mappings, busy intervals, "
    "cursors, subscriptions (removed at the provider) and its credential",
    query=DeleteQuery,
    status=204,
)
def delete_integration(request: ApiRequest) -> Reply:
    ctx = consent_context(request.services)
    query: DeleteQuery = request.query
    integration = ctx.integrations.get(request.route["org"], request.route["id"])
    if integration.kind is Kind.SERVICE:
        if query.remove_events:
            erase_service(ctx, integration, remove_events=True)
        retention(request.services).erase(integration)
        return Reply(status=204)
    if query.remove_events:
        raise BadRequest(
            "remove_events applies to service integrations", code="not_a_service_integration"
        )
    if integration.is_enabled:
        raise Conflict("disable the integration before deleting it", code="disable_first")
    retention(request.services).erase(integration)
    return Reply(status=204)


class TestStart(BaseModel):
    return_to: str | None = Field(
        default=None,
        max_length=MAX_URL,
        description="Allow-listed URL the admin comes back to after consent",
    )


class TestStarted(BaseModel):
    consent_url: str | None = Field(
        default=None, description="workspace kind: send the admin's browser here"
    )
    result: TestResultView | None = Field(
        default=None, description="service kind: the setup check ran at once; its result"
    )


@bp.api(
    f"{INTEGRATION}/test",
    name="start_test",
    methods=("POST",),
    auth="admin",
    summary="Start (or rerun) the test flow: consent, then every check (202 with consent_url). "
    "A service integration's setup check runs at once (200 with its result)",
    body=TestStart,
    response=TestStarted,
    status=202,
)
def start_test(request: ApiRequest) -> TestStarted | Reply:
    body: TestStart = request.body
    integration = consent_context(request.services).integrations.get(
        request.route["org"], request.route["id"]
    )
    if integration.kind is Kind.SERVICE:
        outcome = service_integrations(request.services).check(
            request.route["org"], request.route["id"], request.require_caller().subject
        )
        assert outcome.run is not None
        return Reply(
            status=200, body=TestStarted(result=result_view(TestResult(outcome.run, None, None)))
        )
    url = consent_test_flow(request.services).start(
        request.route["org"], request.route["id"], request.require_caller().subject, body.return_to
    )
    return TestStarted(consent_url=url)


class IssueView(BaseModel):
    code: str
    check: str
    severity: Literal["blocks", "degrades"]
    title: str
    who_must_act: WhoMustAct
    contact: str
    admin_message: str
    user_message: str
    fix: list[str]
    learn_more: str
    raw: str | None = None
    details: dict[str, str] = Field(default_factory=dict)


class CheckView(BaseModel):
    name: str
    outcome: Literal["passed", "failed", "skipped"]


class AttendeeView(BaseModel):
    email: str
    name: str = ""
    response: str = "none"


class EventPreview(BaseModel):
    """One upcoming event of the admin's calendar, fetched live for this response only."""

    subject: str
    start: datetime
    end: datetime
    location: str = ""
    organizer: str = ""
    attendees: list[AttendeeView] = Field(default_factory=list)


class TestResultView(BaseModel):
    status: TestStatus
    started_by: str
    started_at: datetime
    finished_at: datetime | None = None
    account: str = ""
    tenant: str = ""
    can_enable: bool
    checks: list[CheckView]
    issues: list[IssueView]
    preview: EventPreview | None = None
    preview_note: str | None = None


def result_view(result: TestResult) -> TestResultView:
    catalogue = load_catalogue()
    run = result.run
    issues = []
    for issue in run.issues:
        context = dict(issue.details)
        diagnosis = catalogue.get(issue.code, **context)
        issues.append(
            IssueView(
                code=diagnosis.code,
                check=issue.check,
                severity=issue.severity,
                title=diagnosis.title,
                who_must_act=diagnosis.who_must_act,
                contact=diagnosis.contact,
                admin_message=diagnosis.admin_message,
                user_message=diagnosis.user_message,
                fix=list(diagnosis.fix),
                learn_more=diagnosis.learn_more,
                raw=diagnosis.raw,
                details=diagnosis.details,
            )
        )
    preview = None
    if result.preview is not None:
        event = result.preview
        preview = EventPreview(
            subject=event.subject,
            start=event.start,
            end=event.end,
            location=event.location,
            organizer=event.organizer,
            attendees=[
                AttendeeView(email=a.email, name=a.name, response=a.response)
                for a in event.attendees
            ],
        )
    return TestResultView(
        status=run.status,
        started_by=run.started_by,
        started_at=run.started_at,
        finished_at=run.finished_at,
        account=run.account,
        tenant=run.tenant,
        can_enable=run.status is TestStatus.PASSED,
        checks=[CheckView(name=c.name, outcome=c.outcome) for c in run.checks],
        issues=issues,
        preview=preview,
        preview_note=result.preview_note,
    )


@bp.api(
    f"{INTEGRATION}/test",
    name="get_test_result",
    auth="admin",
    summary="The latest test result: status, every issue with its fix, a live event preview",
    response=TestResultView,
)
def get_test_result(request: ApiRequest) -> TestResultView:
    ctx = consent_context(request.services)
    integration = ctx.integrations.get(request.route["org"], request.route["id"])
    if integration.kind is Kind.SERVICE:
        run = ctx.testruns.latest(integration.org, integration.id)
        if run is None:
            raise BadRequest("no check has run for this integration", code="no_test_run")
        return result_view(TestResult(run, None, None))
    result = consent_test_flow(request.services).result(
        request.route["org"], request.route["id"], request.require_caller().subject
    )
    return result_view(result)


class EnableRequest(BaseModel):
    confirm_replace: bool = Field(
        default=False, description="Disable the active workspace integration of another suite"
    )


class DisableRequest(BaseModel):
    confirm: bool = Field(default=False, description="The admin accepted the consequences")


@bp.api(
    f"{INTEGRATION}/enable",
    name="enable_integration",
    methods=("POST",),
    auth="admin",
    summary="Enable for all users (409 test_required or another_integration_active)",
    body=EnableRequest,
    response=IntegrationView,
)
def enable_integration(request: ApiRequest) -> IntegrationView:
    body: EnableRequest = request.body
    ctx = consent_context(request.services)
    integration = ctx.lifecycle.enable(
        request.route["org"],
        request.route["id"],
        request.require_caller().subject,
        confirm_replace=body.confirm_replace,
    )
    return view(integration)


@bp.api(
    f"{INTEGRATION}/disable",
    name="disable_integration",
    methods=("POST",),
    auth="admin",
    summary="Disable (409 confirmation_required with the consequences unless confirmed)",
    body=DisableRequest,
    response=IntegrationView,
)
def disable_integration(request: ApiRequest) -> IntegrationView:
    body: DisableRequest = request.body
    ctx = consent_context(request.services)
    integration = ctx.lifecycle.disable(
        request.route["org"],
        request.route["id"],
        request.require_caller().subject,
        confirm=body.confirm,
    )
    return view(integration)


class AdminConsentQuery(BaseModel):
    return_to: str | None = Field(
        default=None,
        max_length=MAX_URL,
        description="Where the administrator's browser goes after consent (one of "
        "ALLOWED_RETURN_URLS), with admin_consent=granted&tenant=... or "
        "admin_consent=error&code=...",
    )


class AdminConsentLink(BaseModel):
    url: str = Field(description="Give this to the Entra ID administrator")


@bp.api(
    f"{INTEGRATION}/admin-consent-url",
    name="admin_consent_url",
    auth="admin",
    summary="A direct admin-consent link for the Entra ID administrator (Microsoft only)",
    query=AdminConsentQuery,
    response=AdminConsentLink,
)
def admin_consent_url(request: ApiRequest) -> AdminConsentLink:
    query: AdminConsentQuery = request.query
    url = callbacks(request.services).admin_consent_url(
        request.route["org"], request.route["id"], request.require_caller().subject, query.return_to
    )
    return AdminConsentLink(url=url)


def outcome_view(outcome: Outcome) -> IntegrationView:
    """A service integration after create/check/rotate: settings, check result, matching."""
    config = outcome.config
    out = view(
        outcome.integration,
        service=ServiceSettingsView(
            credential_type=config.credential_type,
            credential_set_at=config.credential_set_at,
            credential_expires_on=config.credential_expires_on,
            credential_error=config.credential_error,
            settings=dict(config.settings),
            user_id=config.probe_mailbox,
            matched_at=config.matched_at,
        ),
    )
    if outcome.run is not None:
        out.check = result_view(TestResult(outcome.run, None, None))
    if outcome.report is not None:
        out.matching = MatchingView(
            matched=outcome.report.matched,
            unmatched=outcome.report.unmatched,
            requests=outcome.report.requests,
        )
    return out


IntegrationView.model_rebuild()
TestStarted.model_rebuild()
