"""The whole diagnostics catalogue reads right: every entry, rendered as a person sees it."""

from __future__ import annotations

import re

import pytest

from shared.diagnostics.catalogue import Diagnosis, load_catalogue
from shared.diagnostics.diagnose import diagnose_google, diagnose_microsoft

WHO_MAY_ACT = {"user", "cloud_admin", "subscription_admin", "operator", "nobody"}
# Words that name the other provider's products or consoles.
MICROSOFT_WORDS = re.compile(r"Microsoft|Entra|Azure|Outlook|AADSTS|Graph", re.IGNORECASE)
GOOGLE_WORDS = re.compile(r"Google|Workspace|Gmail", re.IGNORECASE)
DOUBLED = re.compile(r"(?<![\w-])(\w+)\s+\1\b", re.IGNORECASE)
UNFILLED = re.compile(r"<[^<>]*>|\{[^{}]*\}")


def texts(d: Diagnosis) -> list[str]:
    return [d.title, d.user_message, d.admin_message, d.contact, *d.fix]


CODES = load_catalogue().codes


@pytest.mark.parametrize("code", CODES)
def test_every_entry_is_filled_worded_for_its_provider_and_names_who_acts(code: str) -> None:
    d = load_catalogue().get(code)
    assert d.who_must_act in WHO_MAY_ACT
    for text in texts(d):
        assert not UNFILLED.search(text), (code, text)
        assert not DOUBLED.search(text), (code, text)
        if d.provider == "microsoft":
            assert not GOOGLE_WORDS.search(text), (code, text)
        if d.provider == "google":
            assert not MICROSOFT_WORDS.search(text), (code, text)


def test_a_microsoft_user_who_cancels_is_told_to_try_again() -> None:
    # Documented redirect: error=access_denied, "the user canceled the authentication".
    d = diagnose_microsoft("access_denied", "The user canceled the authentication.")
    assert d.code == "microsoft.access_denied"
    assert d.who_must_act == "user"
    assert "again" in d.user_message


@pytest.mark.parametrize(
    ("error", "code", "who"),
    [
        ("redirect_uri_mismatch", "google.redirect_uri_mismatch", "operator"),
        ("deleted_client", "google.deleted_client", "operator"),
        ("invalid_request", "google.invalid_request", "operator"),
        ("disallowed_useragent", "google.disallowed_useragent", "user"),
    ],
)
def test_documented_google_redirect_errors_have_their_own_entry(
    error: str, code: str, who: str
) -> None:
    d = diagnose_google(error, "")
    assert (d.code, d.who_must_act) == (code, who)


def test_aadsts500113_no_reply_address_is_the_operators() -> None:
    d = diagnose_microsoft("invalid_request", "AADSTS500113: No reply address is registered.")
    assert (d.code, d.who_must_act) == ("AADSTS500113", "operator")


def test_aadsts700016_is_the_directory_administrators() -> None:
    d = diagnose_microsoft("unauthorized_client", "AADSTS700016: Application not found.")
    assert d.who_must_act == "cloud_admin"


def test_the_services_client_id_fills_the_fix() -> None:
    d = load_catalogue().get("google.admin_policy_enforced", client_id="1234-abc.apps.example")
    assert any("1234-abc.apps.example" in step for step in d.fix)
