"""What the route specs' types cannot say about the HTTP contract, kept in one place.

For each operation (by ``operationId``, the function name): a description for whoever builds on
the API, what a success means, the error statuses it answers besides the ones every operation of
its kind has (see :func:`shared.http.openapi.declared_errors`), and, for redirects, where the
browser goes and which query parameters are added to ``return_to``. ``ERROR_CODES`` is the closed
set of stable ``code`` values of problem responses; a unit test keeps it complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OperationDoc:
    description: str
    success: str = "Success"
    errors: dict[int, str] = field(default_factory=dict)
    redirect: str = ""
    # Other successful statuses: status -> (when, media type; "" for the operation's own).
    also: dict[int, tuple[str, str]] = field(default_factory=dict)


PATH_PARAMETERS: dict[str, str] = {
    "org": "The host app's organisation id; a caller's token must be for this organisation.",
    "id": "The integration's id, as returned when it was created.",
    "room": "The room's email address in the cloud suite.",
    "event": "The provider's id of an event in the caller's calendar.",
    "app_event": "The host app's own id of its event (1-200 characters).",
    "code": "A diagnostics code: a catalogue code from a redirect's code parameter, or a "
    "provider's (AADSTS50105, admin_policy_enforced, ...).",
    "person": "The host app's id of the person.",
}

_RETURN_TO = (
    "The browser is sent back to the return_to URL given when the flow started, with query "
    "parameters added: "
)
_PROVIDER = "The provider is unavailable or throttling (provider_unavailable, provider_throttled)"
_STORAGE = "Storage or Key Vault cannot be reached (storage_unavailable, secret_store_unavailable)"
_NOT_FOUND_INTEGRATION = "No such integration in this organisation (not_found)"

OPERATIONS: dict[str, OperationDoc] = {
    "health": OperationDoc(
        "Anonymous liveness and readiness: whether Table storage, Queue storage and the secret "
        "store answer. The probes run at most once every 15 s per instance; callers in between "
        "get the last answer. Each failing check names only an error code, never an endpoint.",
        success="Every dependency answers",
        errors={503: "A dependency does not answer; checks names which (status degraded)"},
    ),
    "openapi": OperationDoc(
        "This document. Built from the same declarations that register the functions, so it "
        "lists exactly the operations that exist.",
        success="The OpenAPI 3.1 document",
    ),
    "list_integrations": OperationDoc(
        "Every calendar integration of the organisation (at most one per cloud suite is enabled "
        "at a time), with its status and last test result. For the admin's settings page.",
        success="The organisation's integrations",
    ),
    "create_integration": OperationDoc(
        "Create a draft integration: kind workspace (each person consents to delegated access) "
        "or service (app-only credentials, people matched by email). A workspace integration "
        "is then tested (POST .../test) and enabled; a service integration is checked with its "
        "credentials at once.",
        success="Created: draft, or failed for a service integration whose check failed",
        errors={409: "Conflicts with an existing integration (already_exists)"},
    ),
    "get_integration": OperationDoc(
        "One integration: status, provider, last test, and (service kind) the setup check.",
        success="The integration",
        errors={404: _NOT_FOUND_INTEGRATION},
    ),
    "delete_integration": OperationDoc(
        "Delete the integration and everything the service holds for it: connections and their "
        "tokens (revoked where the provider allows), test results, mappings, busy intervals, "
        "cursors and subscriptions. An enabled integration must be disabled first, unless the "
        "query says otherwise.",
        success="Deleted; nothing of it is left",
        errors={404: _NOT_FOUND_INTEGRATION, 409: "Still enabled (disable_first)"},
    ),
    "start_test": OperationDoc(
        "Start the workspace integration's test flow: returns the provider consent URL the admin "
        "opens. After consent, the provider redirects to the OAuth callback, which runs the "
        "checks and sends the browser back to return_to with test=passed|failed.",
        success="The consent URL to open",
        also={200: ("A service integration: its setup check ran at once", "")},
        errors={
            404: _NOT_FOUND_INTEGRATION,
            409: "Not a workspace integration (not_a_workspace_integration)",
        },
    ),
    "get_test_result": OperationDoc(
        "The latest test run: each check with its outcome and, for a failure, the diagnosis "
        "(who must act and how), plus a live preview of the admin's upcoming events.",
        success="The latest test run",
        errors={404: "No such integration, or no test run yet (no_test_run)"},
    ),
    "enable_integration": OperationDoc(
        "Enable the integration for every person of the organisation. Needs a passed test; "
        "enabling a second suite while another is enabled needs an explicit confirmation.",
        success="Enabled",
        errors={
            404: _NOT_FOUND_INTEGRATION,
            409: "No passed test (test_required), or another suite is enabled "
            "(another_integration_active, confirmation_required)",
        },
    ),
    "disable_integration": OperationDoc(
        "Disable the integration: syncing stops and people can no longer connect; connections "
        "are kept for the retention period, so enabling again needs no new consent within it.",
        success="Disabled",
        errors={404: _NOT_FOUND_INTEGRATION, 409: "Needs a confirmation (confirmation_required)"},
    ),
    "admin_consent_url": OperationDoc(
        "The Microsoft admin-consent link for a tenant's Entra ID administrator, for when the "
        "person who sets up the integration is not one. The administrator's consent lands on "
        "oauth/microsoft/admin-consent.",
        success="The link to send to the administrator",
        errors={
            404: _NOT_FOUND_INTEGRATION,
            409: "Not a Microsoft workspace integration (admin_consent_not_supported)",
        },
    ),
    "rotate_service_credentials": OperationDoc(
        "Replace a service integration's secret or certificate (or Google key) and rerun its "
        "setup check; mappings are kept.",
        success="The integration with the new check's result",
        errors={404: _NOT_FOUND_INTEGRATION, 409: "Not a service integration"},
    ),
    "service_people": OperationDoc(
        "The people of the integration. Workspace kind: those who connected their calendar, "
        "with their connection state, last successful sync and last error. Service kind: every "
        "host-app person, matched to a directory account or not (with the reason), whether "
        "their sync is on, and their last sync.",
        success="The people",
        errors={404: _NOT_FOUND_INTEGRATION},
    ),
    "service_person_sync": OperationDoc(
        "Stop or start one person's sync under a service integration; stopping removes the "
        "events the service wrote to their calendar.",
        success="The person's sync state",
        errors={404: "No such integration or person (not_found)"},
    ),
    "connect_calendar": OperationDoc(
        "A person connects their own calendar (workspace integrations). The browser is "
        "redirected to the provider's consent page, or straight back when already connected. "
        "With Accept: application/json the target URL is returned as JSON instead.",
        success="With Accept: application/json, the URL the browser should open",
        also={200: ("With Accept: application/json: the URL the browser should open", "")},
        errors={
            409: "No enabled workspace integration (no_active_integration)",
        },
        redirect="To the provider's consent page; or, when already connected, back to "
        "return_to with calendar=connected.",
    ),
    "get_my_calendar": OperationDoc(
        "The caller's connection: provider, account, status (connected or needs_reconnect) and "
        "the last error with its diagnostics code.",
        success="The caller's connection",
        errors={404: "The caller has no connection (not_connected)"},
    ),
    "disconnect_my_calendar": OperationDoc(
        "Disconnect the caller's calendar: revoke the grant where the provider allows, erase the "
        "tokens and the connection, stop its subscription.",
        success="Disconnected",
        errors={404: "The caller has no connection (not_connected)"},
    ),
    "room_directory": OperationDoc(
        "The cloud suite's rooms, read live, for auto-completing room email addresses.",
        success="The rooms of the enabled suite",
        errors={409: "No enabled integration (no_active_integration)", 502: _PROVIDER},
    ),
    "list_rooms": OperationDoc(
        "The host app's rooms and whether each is paired with a room of the cloud suite.",
        success="The rooms",
    ),
    "put_room": OperationDoc(
        "Create or update a room and pair it with the cloud suite's room of that email address "
        "(or unpair it, keeping its information).",
        success="The room",
    ),
    "delete_room": OperationDoc(
        "Forget a room entirely: its information and its pairing with the cloud suite's room.",
        success="Forgotten",
        errors={404: "No such room (room_not_found)"},
    ),
    "list_notifications": OperationDoc(
        "The host app's notification feed: what changed in people's calendars (event moved, "
        "cancelled, declined), connections needing attention and sync failures, oldest first "
        "after the id given. Ids increase and are never reused; the same facts are delivered "
        "as signed webhooks when a URL is set.",
        success="A page of notifications",
    ),
    "get_diagnosis": OperationDoc(
        "Explain a diagnostics code (from a redirect's code parameter or a provider's error): "
        "the texts for the person and for the administrator, who must act, and the fix.",
        success="The diagnosis",
        errors={404: "Not a code the catalogue knows (unknown_diagnosis)"},
    ),
    "oauth_microsoft_callback": OperationDoc(
        "Where the Microsoft identity platform sends the browser after sign-in and consent "
        "(register it as a redirect URI). Redeems the code for the test flow or a person's "
        "connection. Without a return_to, an HTML page explains the outcome.",
        success="An HTML page with the outcome, when the flow had no return_to",
        redirect=_RETURN_TO + "test flow: test=passed|failed and integration=<id>; "
        "a person's connection: calendar=connected, or calendar=error and code=<diagnostics "
        "code> (explained by GET /diagnostics/{code}).",
        errors={400: "A missing, forged, replayed or expired state (an HTML page says so)"},
    ),
    "oauth_google_callback": OperationDoc(
        "Where Google sends the browser after sign-in and consent (register it as an authorised "
        "redirect URI). Same outcomes as the Microsoft callback.",
        success="An HTML page with the outcome, when the flow had no return_to",
        redirect=_RETURN_TO + "test flow: test=passed|failed and integration=<id>; "
        "a person's connection: calendar=connected, or calendar=error and code=<diagnostics "
        "code> (explained by GET /diagnostics/{code}).",
        errors={400: "A missing, forged, replayed or expired state (an HTML page says so)"},
    ),
    "oauth_microsoft_admin_consent": OperationDoc(
        "Where the Microsoft identity platform sends a tenant administrator after admin consent "
        "(register it as a redirect URI).",
        success="An HTML page with the outcome, when the flow had no return_to",
        redirect=_RETURN_TO + "admin_consent=granted and tenant=<tenant id>, or "
        "admin_consent=error and code=<diagnostics code>.",
        errors={400: "A missing, forged, replayed or expired state (an HTML page says so)"},
    ),
    "webhook_microsoft": OperationDoc(
        "Microsoft Graph change notifications for the subscriptions the service created. "
        "Answers the validationToken handshake with the token as text/plain; otherwise "
        "validates, de-duplicates and queues a sync, and answers 202 within Graph's 3 seconds.",
        success="Accepted (notifications not matching a subscription are acknowledged and ignored)",
        also={200: ("The validationToken handshake: the token, decoded", "text/plain")},
        errors={
            400: "The body is not a notification collection (invalid_json)",
            503: "Storage is unavailable: Graph retries later",
        },
    ),
    "webhook_microsoft_lifecycle": OperationDoc(
        "Microsoft Graph lifecycle notifications (reauthorizationRequired, "
        "subscriptionRemoved, missed): the subscription is renewed or recreated and a sync "
        "queued.",
        success="Accepted",
        also={200: ("The validationToken handshake: the token, decoded", "text/plain")},
        errors={
            400: "The body is not a notification collection (invalid_json)",
            503: "Storage is unavailable: Graph retries later",
        },
    ),
    "webhook_google": OperationDoc(
        "Google Calendar push notifications (X-Goog-Channel-ID, X-Goog-Channel-Token, "
        "X-Goog-Resource-State headers; no body). A channel the service opened queues a sync; "
        "anything else is acknowledged and ignored.",
        success="Accepted (Google treats any 2xx as delivered)",
        errors={503: "Storage is unavailable: Google retries later"},
    ),
    "sync_integration_now": OperationDoc(
        "Queue a sync of every calendar of the integration now (an admin's on-demand sync); "
        "answers at once with the number of calendars queued.",
        success="Queued",
        errors={404: _NOT_FOUND_INTEGRATION, 409: "Not enabled (integration_not_enabled)"},
    ),
    "integration_sync_health": OperationDoc(
        "Sync health of the integration: the last 5-minute cycle, subscriptions healthy or "
        "missing, calendars behind, failures by kind, connections needing reconnection and the "
        "poison queue.",
        success="The health view",
        errors={404: _NOT_FOUND_INTEGRATION},
    ),
    "put_notification_settings": OperationDoc(
        "Set the https URL notifications are delivered to as signed webhooks (Standard Webhooks). "
        "The signing secret is returned once, here; private and loopback addresses are refused "
        "in production.",
        success="The settings, with the signing secret (shown only now)",
    ),
    "get_notification_settings": OperationDoc(
        "The URL notifications are delivered to and the delivery state; the signing secret is "
        "never shown again.",
        success="The settings",
        errors={404: "No webhook URL set (not_found)"},
    ),
    "get_my_events": OperationDoc(
        "The caller's agenda, read live from their calendar with their own connection (a window "
        "of at most 62 days), with attendees and the host app's data attached to events.",
        success="The agenda",
        errors={
            404: "The caller has no connection (not_connected)",
            409: "The connection must be renewed (reconnect_needed)",
            502: _PROVIDER,
        },
    ),
    "put_my_event_app_data": OperationDoc(
        "Attach the host app's data (a JSON object, at most 16 KiB) to an event of the caller's "
        "calendar; the event is checked live.",
        success="Attached",
        errors={
            404: "No connection, or no such event in the caller's calendar",
            409: "The connection must be renewed (reconnect_needed)",
            502: _PROVIDER,
        },
    ),
    "get_availability": OperationDoc(
        "Busy intervals per person for scheduling: the busy intervals kept from people's "
        "calendars (external events, no content) plus the host app's own events.",
        success="Busy intervals per person",
    ),
    "put_people": OperationDoc(
        "Create or update the host app's people (id, name, email; up to 1000 per request). "
        "People are matched to connections and directory accounts by these.",
        success="What was stored",
    ),
    "put_event": OperationDoc(
        "Create or change a host-app event (a shift, a class) and push it to its people's "
        "calendars now, within a deadline; people not reached in time are synced by the worker. "
        "The answer says, per person, whether the event is in their calendar.",
        success="The event changed, with each person's sync status",
        also={201: ("The event was created", "")},
        errors={409: "Concurrent change (concurrency_conflict) or unreadable stored event"},
    ),
    "delete_event": OperationDoc(
        "Cancel a host-app event and remove it from its people's calendars now.",
        success="Cancelled, with each person's status",
        errors={
            404: "No such event (event_not_found)",
            409: "The stored event cannot be read; PUT it again first (event_unreadable)",
        },
    ),
}

# Descriptions of response and request properties whose models do not carry one (a model's own
# Field(description=...) wins). Keyed by schema name, then property.
_WHEN = "When (UTC, ISO 8601)."
PROPERTIES: dict[str, dict[str, str]] = {
    "Accepted": {"accepted": "Notifications matched to a subscription or channel and queued."},
    "Agenda": {
        "start": "Start of the window read.",
        "end": "End of the window read.",
        "items": "The caller's events in the window, by start.",
    },
    "AgendaEvent": {
        "id": "The provider's event id (use it for app-data).",
        "subject": "The event's subject as the caller sees it.",
        "start": "Start (UTC).",
        "end": "End (UTC).",
        "is_all_day": "An all-day event (start and end are midnights).",
        "location": "Location text.",
        "organizer": "The organiser's email address.",
        "show_as": "free, tentative, busy, oof or workingElsewhere.",
        "web_link": "Opens the event in Outlook or Google Calendar.",
        "attendees": "Attendees with their responses.",
    },
    "AttendeeItem": {
        "name": "Display name.",
        "email": "Email address.",
        "response": "accepted, declined, tentative or none.",
        "kind": "required, optional or resource (a room).",
    },
    "AttendeeView": {
        "email": "Email address.",
        "name": "Display name.",
        "response": "accepted, declined, tentative or none.",
    },
    "Availability": {
        "start": "Start of the window.",
        "end": "End of the window.",
        "people": "Each person asked for, with their busy intervals.",
    },
    "BusyItem": {
        "start": "Start of the busy interval (UTC).",
        "end": "End of the busy interval (UTC).",
        "show_as": "busy, tentative, oof or workingElsewhere.",
        "app_event": "The host app's event id when the interval is one of its own events.",
    },
    "Check": {
        "status": "ok or failing.",
        "error": "The stable error code of a failing check.",
    },
    "CheckView": {
        "name": "Which check of the test flow.",
        "outcome": "passed, failed, or skipped after an earlier failure.",
    },
    "ConnectRedirect": {
        "redirect_to": "Open this URL in the browser (the provider's consent, or return_to).",
        "already_connected": "True when the caller is already connected (no consent needed).",
    },
    "ConnectionView": {
        "status": "connected, or needs_reconnect after a revoked or expired grant.",
        "integration_id": "The integration the connection belongs to.",
        "provider": "microsoft or google.",
        "account": "The account that consented (email address).",
        "scopes": "The delegated scopes granted.",
        "connected_at": _WHEN,
        "updated_at": _WHEN,
        "last_error": "The diagnostics code of the last failure (GET /diagnostics/{code}).",
    },
    "DiagnosisView": {
        "code": "The code explained.",
        "provider": "microsoft, google or service.",
        "severity": "blocks (nothing works until fixed) or degrades (some features only).",
        "who_must_act": "Who can fix it.",
        "contact": "How to reach whoever must act, in words.",
        "title": "One-line summary.",
        "user_message": "What to show the person.",
        "admin_message": "What to show the administrator.",
        "fix": "The steps that fix it, in order.",
        "learn_more": "The provider's documentation of the error.",
    },
    "Directory": {"items": "The rooms of the cloud suite."},
    "DirectoryRoom": {
        "email": "The room's email address.",
        "name": "Display name.",
        "capacity": "Seats, when the suite knows.",
        "building": "Building, when the suite knows.",
    },
    "EventIn": {
        "subject": "Subject shown in people's calendars.",
        "body": "Text of the invitation (plain text).",
        "location": "Location text.",
        "room": "A paired room's email address to book with the event.",
    },
    "EventPreview": {
        "subject": "Subject.",
        "start": "Start (UTC).",
        "end": "End (UTC).",
        "location": "Location text.",
        "organizer": "The organiser's email address.",
        "attendees": "How many attendees.",
    },
    "EventResult": {
        "event": "The event as stored.",
        "people": "Per person: whether the event is in their calendar, or why not.",
    },
    "EventView": {
        "id": "The host app's event id.",
        "subject": "Subject.",
        "start": "Start (UTC).",
        "end": "End (UTC).",
        "people": "The host app's people invited.",
        "room": "The booked room's email address.",
        "status": "active or cancelled.",
        "version": "Increases with every change; the sync compares it.",
        "recurrence": "The series' rule (RRULE, RFC 5545) when the event repeats.",
        "time_zone": "IANA time zone the times and the rule are meant in.",
        "all_day": "An all-day event (start and end are midnights in time_zone).",
        "updated_at": _WHEN,
    },
    "Feed": {"items": "Notifications after the given id, oldest first."},
    "Health": {
        "status": "ok, or degraded when a check fails.",
        "version": "The service's version.",
        "checks": "tables, queues and secrets, each ok or failing.",
    },
    "HistoryItem": {
        "at": _WHEN,
        "actor": "Who did it (the caller's subject).",
        "action": "created, tested, enabled, disabled, credentials_rotated, ...",
        "detail": "More about it, when there is more.",
    },
    "IntegrationList": {"items": "The organisation's integrations, newest first."},
    "IntegrationView": {
        "id": "The integration's id.",
        "kind": "workspace or service.",
        "provider": "microsoft or google.",
        "name": "A name for the admin's settings page.",
        "status": "draft, testing, tested, enabled, disabled or failed.",
        "created_at": _WHEN,
        "created_by": "Who created it.",
        "tenant": "The Entra ID tenant or Google Workspace domain, once known.",
        "test_passed_at": "When its last test passed.",
        "enabled_at": "When it was enabled.",
        "enabled_by": "Who enabled it.",
        "disabled_at": "When it was disabled.",
        "disabled_by": "Who disabled it.",
        "history": "What was done to it, oldest first.",
        "matching": "Service integrations: how many people matched a directory account.",
    },
    "Interval": {"start": "Start (UTC).", "end": "End (UTC)."},
    "IssueView": {
        "code": "The diagnostics code (GET /diagnostics/{code}).",
        "check": "The check that found it.",
        "severity": "blocks or degrades.",
        "title": "One-line summary.",
        "who_must_act": "Who can fix it.",
        "contact": "How to reach whoever must act.",
        "admin_message": "What to show the administrator.",
        "user_message": "What to show people.",
        "fix": "The steps that fix it.",
        "learn_more": "The provider's documentation of the error.",
        "raw": "The provider's own error text, for support.",
        "details": "Values the texts refer to (client id, scopes, ...).",
    },
    "MatchingView": {
        "matched": "People matched to a directory account.",
        "unmatched": "People not matched.",
    },
    "NewIntegration": {
        "provider": "microsoft or google.",
        "name": "A name for the admin's settings page.",
    },
    "NotificationSettingsView": {
        "url": "Where notifications are delivered (https).",
        "updated_at": _WHEN,
    },
    "NotificationView": {
        "id": "Increasing id; pass the last one seen as ?after=.",
        "kind": "event_moved, event_cancelled, event_declined, reconnect_needed, sync_failing, ...",
        "at": _WHEN,
        "data": "The facts of this kind of notification (event, person, provider, code, ...).",
    },
    "OccurrenceIn": {
        "start": "The occurrence's new start (UTC), when it moves.",
        "end": "The occurrence's new end (UTC), when it moves.",
        "cancelled": "True to cancel this one occurrence.",
    },
    "PeopleIn": {"people": "The people to create or update (1-1000)."},
    "PeopleResult": {
        "stored": "How many people were stored.",
        "with_calendar": "How many of them have a connected or matched calendar.",
        "people": "Each person's calendar, when they have one.",
    },
    "PeopleView": {"items": "The people."},
    "PersonAvailabilityView": {
        "person": "The host app's person id.",
        "busy": "Busy intervals in the window, by start.",
    },
    "PersonCalendar": {"id": "The host app's person id.", "provider": "microsoft or google."},
    "PersonIn": {
        "id": "The host app's person id.",
        "name": "Display name.",
        "email": "Email address (matches connections and directory accounts).",
    },
    "PersonPush": {
        "person": "The host app's person id.",
        "provider": "microsoft or google, when the person has a calendar.",
        "provider_event_id": "The event's id in the person's calendar.",
        "error": "Why the event is not in their calendar yet (a stable code).",
    },
    "PersonSync": {
        "id": "The host app's person id.",
        "sync": "on or off.",
        "matched": "Whether the person matched a directory account.",
    },
    "PersonView": {
        "name": "Display name.",
        "email": "Email address.",
        "matched": "Whether the person matched a directory account.",
        "integration_name": "The integration's name.",
        "integration_status": "Active or Inactive.",
    },
    "RoomIn": {"name": "The room's name in the host app."},
    "RoomList": {"items": "The host app's rooms."},
    "RoomView": {
        "id": "The room's email address.",
        "name": "The room's name in the host app.",
        "email": "The room's email address in the cloud suite.",
        "paired": "Whether it is paired with the cloud suite's room.",
        "integration_id": "The integration it is paired through.",
        "paired_at": _WHEN,
        "updated_at": _WHEN,
    },
    "ServiceSettingsView": {
        "credential_set_at": "When the current secret or certificate was set.",
        "days_to_expiry": "Days until the credential expires, when known.",
        "matched_at": "When people were last matched to directory accounts.",
    },
    "SyncHealth": {
        "integration_id": "The integration.",
        "calendars": "Calendars synced by it.",
        "subscriptions_healthy": "Change subscriptions or channels in place and not expiring.",
    },
    "SyncedPerson": {
        "connected_at": "When the person connected.",
        "last_error_at": "When the last error happened.",
    },
    "TestResultView": {
        "status": "running, passed or failed.",
        "started_by": "Who started the test.",
        "started_at": _WHEN,
        "finished_at": _WHEN,
        "account": "The account that consented.",
        "tenant": "The tenant or domain of that account.",
        "can_enable": "Whether the integration can be enabled now.",
        "checks": "Each check and its outcome.",
        "issues": "What failed, each with its diagnosis.",
        "preview": "One of the admin's upcoming events, read live.",
        "preview_note": "Why there is no preview, when there is none.",
    },
}


ERROR_CODES: frozenset[str] = frozenset(
    {
        "admin_consent_not_supported",
        "already_exists",
        "another_integration_active",
        "app_data_too_large",
        "bad_request",
        "calendar_not_connected",
        "concurrency_conflict",
        "configuration_error",
        "confirmation_required",
        "conflict",
        "deadline_exceeded",
        "consent_failed",
        "credential_missing",
        "credentials_required",
        "disable_first",
        "etag_required",
        "event_not_found",
        "event_unreadable",
        "expired_state",
        "forbidden",
        "forged_state",
        "integration_not_enabled",
        "internal_error",
        "invalid_certificate",
        "invalid_client_id",
        "invalid_delay",
        "invalid_event_id",
        "invalid_field",
        "invalid_json",
        "invalid_key",
        "invalid_message",
        "invalid_people",
        "invalid_provider_id",
        "invalid_queue_name",
        "invalid_room_email",
        "invalid_secret_name",
        "invalid_table_name",
        "invalid_tenant_id",
        "invalid_token",
        "invalid_transaction",
        "invalid_webhook_url",
        "invalid_window",
        "json_too_deep",
        "message_too_large",
        "method_not_allowed",
        "missing_token",
        "no_active_integration",
        "no_test_run",
        "not_a_service_integration",
        "not_a_workspace_integration",
        "not_connected",
        "not_enabled",
        "not_found",
        "payload_too_large",
        "provider_denied",
        "provider_error",
        "provider_not_found",
        "provider_not_supported",
        "provider_precondition_failed",
        "provider_throttled",
        "provider_unavailable",
        "reconnect_needed",
        "replayed_state",
        "retention_over",
        "return_to_not_allowed",
        "role_required",
        "room_not_found",
        "route_not_found",
        "secret_store_unavailable",
        "storage_unavailable",
        "sync_cursor_expired",
        "test_required",
        "throttled",
        "token_expired",
        "unauthenticated",
        "unexpected_credentials",
        "unknown_diagnosis",
        "unknown_time_zone",
        "unsupported_media_type",
        "validation_failed",
        "window_too_large",
        "wrong_org",
    }
)
