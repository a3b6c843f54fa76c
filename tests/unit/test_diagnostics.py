"""The diagnostics catalogue: every known failure explained, with who must act and the fix."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from shared.diagnostics import (
    PLACEHOLDERS,
    diagnose,
    diagnose_google,
    diagnose_microsoft,
    diagnose_provider_error,
    load_catalogue,
)
from shared.diagnostics.catalogue import DEFAULT_PATH
from shared.errors import (
    ConsentFailed,
    ProviderDenied,
    ProviderUnavailable,
    ReconnectNeeded,
    Throttled,
)
from simulator.google.oauth import ADMIN_POLICY_DESCRIPTION, CONTEXT_AWARE_DESCRIPTION
from simulator.google.token import EXPIRED_OR_REVOKED, UNAUTHORIZED_CLIENT
from simulator.microsoft import identity_errors as entra
from simulator.world import World

REQUIRED_CODES = [
    "AADSTS50105",
    "AADSTS65001",
    "AADSTS65004",
    "AADSTS90094",
    "AADSTS90095",
    "AADSTS700016",
    "AADSTS50020",
    "AADSTS53003",
    "AADSTS50076",
    "AADSTS70011",
    "AADSTS700082",
    "AADSTS50173",
    "AADSTS7000215",
    "microsoft.invalid_grant",
    "google.admin_policy_enforced",
    "google.org_internal",
    "google.access_denied",
    "google.context_aware_access",
    "google.invalid_grant",
    "google.unauthorized_client",
    "google.dwd_unknown_user",
    "google.dwd_account_deleted",
    "google.directory_not_admin",
    "google.probe_user_unavailable",
    "revoked_token",
    "missing_scope",
    "room_listing_not_permitted",
    "calendar_write_not_permitted",
    "webhook_unreachable",
    "admin_consent_pending",
    "throttled",
    "provider_unavailable",
    "unknown",
]

DESCRIPTION_50105 = (
    "AADSTS50105: The signed-in user 'ana@contoso.example' is not assigned to a role for the "
    "application '11111111-2222-3333-4444-555555555555'(Calendar Connector).\r\n"
    "Trace ID: 0f6c2f4a-93d1-4b8e-9a57-2c1d0e7b6a00\r\n"
    "Correlation ID: 7d1e9c55-0b7f-4a51-8a35-5d7b1c0e2f11\r\n"
    "Timestamp: 2025-03-04 09:15:27Z"
)
CONTEXT = {
    "app_name": "Acme Desk",
    "client_id": "11111111-2222-3333-4444-555555555555",
    "user": "ana@contoso.example",
    "tenant": "Contoso",
    "scope": "Calendars.ReadWrite",
    "raw": "provider text",
}


# --- the data file -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", REQUIRED_CODES)
def test_every_required_code_has_both_texts_and_a_fix(code: str) -> None:
    catalogue = load_catalogue()
    assert code in catalogue
    d = catalogue.get(code, **CONTEXT)
    assert d.code == code
    assert d.title and d.user_message and d.admin_message and d.contact
    assert len(d.fix) >= 1 and all(step.strip() for step in d.fix)
    assert d.learn_more.startswith("https://")


def test_codes_and_their_aliases_are_unique_across_the_file() -> None:
    data = tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    codes = [e["code"] for e in data["entry"]]
    aliases = [m for e in data["entry"] for m in e.get("matches", [])]
    assert len(codes) == len(set(codes))
    assert len(aliases) == len(set(aliases))
    assert not set(codes) & set(aliases)
    assert load_catalogue().codes == tuple(codes)


def test_every_entry_fills_completely_and_names_no_other_product() -> None:
    catalogue = load_catalogue()
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    # The host app is "the host app" or {app_name}: no vendor's product from the seed articles.
    assert "mapiq" not in text.lower()
    for code in catalogue.codes:
        for d in (catalogue.get(code), catalogue.get(code, **CONTEXT)):
            for piece in (d.title, d.user_message, d.admin_message, d.contact, *d.fix):
                assert "{" not in piece and "}" not in piece, (code, piece)


def test_every_sentence_starts_with_a_capital_even_with_default_placeholders() -> None:
    catalogue = load_catalogue()
    for code in catalogue.codes:
        d = catalogue.get(code)
        for piece in (d.title, d.user_message, d.admin_message, d.contact, *d.fix):
            for sentence in re.split(r"(?<=[.!?]) +", piece):
                assert sentence[:1].isupper() or sentence[:1].isdigit(), (code, sentence)


def test_transient_failures_need_nobody_and_only_degrade() -> None:
    catalogue = load_catalogue()
    for code in ("throttled", "provider_unavailable"):
        d = catalogue.get(code)
        assert (d.who_must_act, d.severity, d.blocks) == ("nobody", "degrades", False)
    rooms = catalogue.get("room_listing_not_permitted")
    assert rooms.severity == "degrades"
    assert "Place.Read.All" in rooms.admin_message
    assert catalogue.get("webhook_unreachable").who_must_act == "operator"
    assert any("PUBLIC_BASE_URL" in s for s in catalogue.get("webhook_unreachable").fix)
    assert catalogue.get("AADSTS7000215").who_must_act == "operator"


def test_the_packaged_catalogue_is_parsed_once() -> None:
    assert load_catalogue() is load_catalogue()
    assert load_catalogue(DEFAULT_PATH) is not load_catalogue()


# --- seed remedies -----------------------------------------------------------------------------


def test_user_not_assigned_gets_the_seed_remedy_default_access_or_assignment_off() -> None:
    d = diagnose_microsoft("access_denied", DESCRIPTION_50105, app_name="Acme Desk")
    assert d.code == "AADSTS50105"
    assert d.who_must_act == "cloud_admin" and d.blocks
    assert any("Users and groups" in s and "Default Access" in s for s in d.fix)
    assert any('"Assignment required?" to No' in s and "Properties" in s for s in d.fix)
    assert any("Acme Desk" in s for s in d.fix)
    assert "IT department" in d.user_message


def test_admin_approval_offers_the_three_consent_routes_of_seed_001() -> None:
    steps = " ".join(load_catalogue().get("AADSTS90094").fix)
    assert "Consent on behalf of your organization" in steps
    assert "Admin consent requests" in steps
    assert "admin consent link" in steps


def test_google_untrusted_app_is_trusted_for_calendar_and_admin_directory() -> None:
    d = diagnose_google("admin_policy_enforced", ADMIN_POLICY_DESCRIPTION, client_id="123.apps")
    assert d.code == "google.admin_policy_enforced"
    steps = " ".join(d.fix)
    assert "Security > Access and data control > API controls" in steps
    assert "Calendar" in steps and "Google Workspace Admin" in steps
    assert "search for 123.apps" in steps


def test_context_aware_access_asks_it_to_allow_the_web_and_mobile_apps() -> None:
    d = diagnose_google("access_denied", CONTEXT_AWARE_DESCRIPTION)
    assert d.code == "google.context_aware_access"
    assert d.who_must_act == "cloud_admin"
    assert "web and mobile apps" in d.user_message
    assert d.raw == CONTEXT_AWARE_DESCRIPTION


def test_revoked_google_refresh_token_means_reconnect() -> None:
    d = diagnose_google("invalid_grant", EXPIRED_OR_REVOKED, user="ana@example.org")
    assert d.code == "google.invalid_grant"
    assert d.who_must_act == "user"
    assert "Connect your calendar again" in d.user_message


# --- Microsoft mapping -------------------------------------------------------------------------


def test_aadsts_number_and_trace_ids_are_read_from_the_description() -> None:
    d = diagnose_microsoft("access_denied", DESCRIPTION_50105)
    assert d.raw == DESCRIPTION_50105
    assert d.details["aadsts"] == "AADSTS50105"
    assert d.details["trace_id"] == "0f6c2f4a-93d1-4b8e-9a57-2c1d0e7b6a00"
    assert d.details["correlation_id"] == "7d1e9c55-0b7f-4a51-8a35-5d7b1c0e2f11"
    assert d.details["timestamp"] == "2025-03-04 09:15:27Z"
    assert d.details["error"] == "access_denied"


def test_error_codes_list_wins_over_the_description_text() -> None:
    d = diagnose_microsoft("invalid_grant", "AADSTS65001: consent text", error_codes=[50173])
    assert d.code == "AADSTS50173"
    assert d.details["error_codes"] == "50173"


def test_invalid_grant_without_a_known_code_means_reconnect() -> None:
    d = diagnose_microsoft("invalid_grant", "AADSTS9999999: something new")
    assert d.code == "microsoft.invalid_grant"
    assert d.who_must_act == "user"
    assert d.details["aadsts"] == "AADSTS9999999"
    assert diagnose_microsoft("invalid_grant").code == "microsoft.invalid_grant"


def test_consent_required_suberror_means_consent_not_granted() -> None:
    d = diagnose_microsoft("invalid_grant", "no number here", suberror="consent_required")
    assert d.code == "AADSTS65001"
    assert d.details["suberror"] == "consent_required"


def test_interaction_required_with_50076_is_the_mfa_entry() -> None:
    d = diagnose_microsoft("interaction_required", "AADSTS50076: MFA text", error_codes=[50076])
    assert d.code == "AADSTS50076"
    assert diagnose_microsoft("interaction_required").code == "microsoft.interaction_required"


def test_a_code_listed_under_matches_keeps_the_original_in_details() -> None:
    d = diagnose_microsoft("access_denied", "AADSTS90093: policy text")
    assert d.code == "AADSTS90094"
    assert d.details["code"] == "AADSTS90093"
    assert (
        diagnose_microsoft("invalid_grant", "AADSTS70008: expired code").code == "sign_in_expired"
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (entra.user_not_assigned("ana@contoso.example", "cid", "Acme Desk"), "AADSTS50105"),
        (entra.user_not_assigned_grant("ana@contoso.example", "cid", "Acme Desk"), "AADSTS50105"),
        (entra.admin_approval_required("Contoso", "Acme Desk"), "AADSTS90094"),
        (entra.admin_consent_needs_admin("Acme Desk"), "AADSTS90094"),
        (entra.consent_not_granted("cid", "Acme Desk", at_token=True), "AADSTS65001"),
        (entra.consent_not_granted("cid", "Acme Desk", at_token=False), "AADSTS65001"),
        (entra.user_declined(), "AADSTS65004"),
        (entra.blocked_by_conditional_access(at_token=True), "AADSTS53003"),
        (entra.app_not_in_tenant("cid", "Contoso"), "AADSTS700016"),
        (entra.guest_blocked("x@fabrikam.example", "tid", "Contoso", "cid"), "AADSTS50020"),
        (entra.mfa_required("https://graph.microsoft.com"), "AADSTS50076"),
        (entra.refresh_token_inactive("2025-01-01", "90.00:00:00"), "AADSTS700082"),
        (entra.grant_revoked("2025-01-01", "2025-01-02"), "AADSTS50173"),
        (entra.bad_client_secret("cid"), "AADSTS7000215"),
        (entra.invalid_scope("Calendars.Wrong"), "AADSTS70011"),
        (entra.redirect_mismatch("https://x/cb", "cid"), "AADSTS50011"),
        (entra.tenant_not_found("nowhere"), "AADSTS90002"),
        (entra.code_redeemed(), "sign_in_expired"),
        (entra.pkce_mismatch(), "sign_in_expired"),
        (entra.refresh_token_used(), "microsoft.invalid_grant"),
        (entra.login_required(), "microsoft.interaction_required"),
    ],
    ids=lambda v: v if isinstance(v, str) else f"AADSTS{v.code}",
)
def test_entra_shaped_errors_from_the_simulator_are_diagnosed(
    error: entra.AadError, expected: str
) -> None:
    body = entra.token_error_body(World(), error)
    d = diagnose_microsoft(
        body["error"], body["error_description"], body["error_codes"], body.get("suberror")
    )
    assert d.code == expected
    assert d.raw == body["error_description"]
    assert d.details["correlation_id"] == body["correlation_id"]
    redirect = entra.redirect_error_params(World(), error)
    assert diagnose_microsoft(redirect["error"], redirect["error_description"]).code == expected


# --- Google mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "description", "expected"),
    [
        ("org_internal", None, "google.org_internal"),
        ("access_denied", None, "google.access_denied"),
        ("invalid_grant", "Bad Request", "sign_in_expired"),
        ("invalid_grant", "Invalid code verifier.", "sign_in_expired"),
        ("invalid_grant", "Invalid JWT Signature.", "google.service_account_rejected"),
        ("invalid_grant", "Invalid email or User ID", "google.dwd_unknown_user"),
        ("invalid_grant", "The account has been deleted", "google.dwd_account_deleted"),
        ("invalid_grant", None, "google.invalid_grant"),
        ("unauthorized_client", UNAUTHORIZED_CLIENT, "google.unauthorized_client"),
        ("invalid_client", "The OAuth client was not found.", "google.invalid_client"),
        ("rateLimitExceeded", "Rate Limit Exceeded", "throttled"),
        ("backendError", None, "provider_unavailable"),
        ("insufficientPermissions", "Insufficient Permission", "missing_scope"),
    ],
)
def test_google_errors_map_to_their_entries(
    error: str, description: str | None, expected: str
) -> None:
    d = diagnose_google(error, description)
    assert d.code == expected
    assert d.raw == (description or error)
    assert d.details["provider"] == "google"


# --- unknown codes and placeholders ------------------------------------------------------------


def test_unknown_codes_keep_the_provider_text_and_the_code() -> None:
    d = load_catalogue().get("brand_new_failure", raw="The provider said no.")
    assert d.code == "unknown"
    assert d.raw == "The provider said no."
    assert d.details["code"] == "brand_new_failure"
    assert "The provider said no." in d.admin_message

    g = diagnose_google("weird_new_error", "Something nobody has seen")
    assert (g.code, g.raw, g.details["code"]) == (
        "unknown",
        "Something nobody has seen",
        "weird_new_error",
    )
    m = diagnose_microsoft("access_denied", "AADSTS1234567: a brand new text")
    assert (m.code, m.details["code"]) == ("unknown", "AADSTS1234567")
    assert m.raw == "AADSTS1234567: a brand new text"
    assert diagnose_microsoft(None).details["code"] == "none"


def test_placeholders_are_filled_from_context_or_defaults() -> None:
    catalogue = load_catalogue()
    d = catalogue.get("AADSTS50105", app_name="Acme Desk", user="ana@contoso.example", room="r1")
    assert "ana@contoso.example" in d.admin_message
    assert any("select Acme Desk (application ID" in s for s in d.fix)
    assert d.details == {"app_name": "Acme Desk", "user": "ana@contoso.example", "room": "r1"}
    bare = catalogue.get("AADSTS50105")
    assert "the host app" in bare.admin_message
    assert bare.details == {}


def test_filling_is_escape_safe_and_never_expands_a_value_again() -> None:
    d = load_catalogue().get("unknown", raw="{app_name} {{x}} {0.__class__}", app_name="Acme")
    assert d.admin_message.endswith("Its own words: {app_name} {{x}} {0.__class__}")


def test_diagnosis_serialises_to_json_for_the_http_contract() -> None:
    d = diagnose_microsoft("access_denied", DESCRIPTION_50105, raw="provider text", user="ana")
    data = json.loads(json.dumps(d.to_dict()))
    assert data["code"] == "AADSTS50105"
    assert data["severity"] == "blocks"
    assert data["who_must_act"] == "cloud_admin"
    assert isinstance(data["fix"], list) and data["fix"]
    assert data["raw"] == "provider text"  # an explicit raw in the context wins
    assert set(data) >= {"title", "user_message", "admin_message", "learn_more", "details"}


def test_placeholder_names_are_the_documented_six() -> None:
    assert {"app_name", "client_id", "user", "tenant", "scope", "raw"} == PLACEHOLDERS
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\{)\{([a-z_]+)\}(?!\})", text))
    assert used <= PLACEHOLDERS


# --- typed provider errors from the adapters -----------------------------------------------------


def test_consent_failed_from_a_callback_is_diagnosed_by_its_provider() -> None:
    exc = ConsentFailed(
        provider="microsoft",
        error="invalid_grant",
        error_description="AADSTS65001: consent text",
        error_codes=[65001],
        suberror="consent_required",
    )
    assert diagnose_provider_error(exc, app_name="Acme").code == "AADSTS65001"
    google = ConsentFailed(provider="google", error="admin_policy_enforced")
    assert diagnose_provider_error(google).code == "google.admin_policy_enforced"


def test_transient_provider_errors_need_nobody() -> None:
    throttled = diagnose_provider_error(Throttled("slow down", provider="google", retry_after=3))
    assert (throttled.code, throttled.raw, throttled.details["provider"]) == (
        "throttled",
        "slow down",
        "google",
    )
    down = diagnose_provider_error(ProviderUnavailable("502 from Graph", provider="microsoft"))
    assert down.code == "provider_unavailable" and down.who_must_act == "nobody"


def test_reconnect_needed_is_specific_when_the_code_is_known_else_revoked_token() -> None:
    known = ReconnectNeeded(
        "AADSTS50173: revoked", provider="microsoft", provider_code="invalid_grant"
    )
    assert diagnose_provider_error(known).code == "AADSTS50173"
    vague = ReconnectNeeded("gone", provider="microsoft", provider_code="mystery")
    d = diagnose_provider_error(vague, user="ana")
    assert (d.code, d.raw, d.details["code"], d.details["user"]) == (
        "revoked_token",
        "gone",
        "mystery",
        "ana",
    )


def test_an_unrecognised_denial_keeps_its_provider_code_and_text() -> None:
    exc = ProviderDenied(
        "Access is denied.", provider="microsoft", provider_code="ErrorAccessDenied"
    )
    d = diagnose_provider_error(exc)
    assert (d.code, d.raw, d.details["code"]) == (
        "unknown",
        "Access is denied.",
        "ErrorAccessDenied",
    )
    missing = ProviderDenied(
        "Insufficient Permission", provider="google", provider_code="insufficientPermissions"
    )
    assert diagnose_provider_error(missing, scope="calendar.events").code == "missing_scope"


def test_diagnose_dispatches_by_provider_and_refuses_others() -> None:
    assert diagnose("microsoft", "access_denied", DESCRIPTION_50105).code == "AADSTS50105"
    assert diagnose("google", "org_internal").code == "google.org_internal"
    with pytest.raises(ValueError, match="unknown provider"):
        diagnose("yahoo", "access_denied")
