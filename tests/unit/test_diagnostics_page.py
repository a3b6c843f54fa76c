"""The plain HTML page an OAuth callback shows when it has no return_to."""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser

import pytest

from shared.diagnostics import diagnose_microsoft, load_catalogue, render_error_page

HOSTILE = "AADSTS50105: user '<script>alert(1)</script>' & \"friends\"\r\nTrace ID: t-1"


class Outline(HTMLParser):
    """Collects tags and the text inside <ol><li> and <details>, to check the structure."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.steps: list[str] = []
        self.in_step = False
        self.details_text = ""
        self.depth_details = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.in_step = tag == "li" or self.in_step
        if tag == "li":
            self.steps.append("")
        if tag == "details":
            self.depth_details += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self.in_step = False
        if tag == "details":
            self.depth_details -= 1

    def handle_data(self, data: str) -> None:
        if self.in_step:
            self.steps[-1] += data
        if self.depth_details:
            self.details_text += data


def outline(page: str) -> Outline:
    parser = Outline()
    parser.feed(page)
    parser.close()
    return parser


def test_provider_text_is_escaped_so_a_forged_callback_cannot_inject_script() -> None:
    d = diagnose_microsoft("access_denied", HOSTILE, user="<b>ana</b>")
    for audience in ("user", "admin"):
        page = render_error_page(d, audience=audience)
        assert "<script>" not in page and "<b>ana</b>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        parsed = outline(page)
        assert "script" not in parsed.tags
        # The raw text and the code sit in the collapsed technical details.
        assert "<script>alert(1)</script>" in parsed.details_text
        assert "AADSTS50105" in parsed.details_text
        assert "t-1" in parsed.details_text


def test_admin_page_lists_the_numbered_fix_steps() -> None:
    d = load_catalogue().get("AADSTS50105", app_name="Acme Desk")
    page = render_error_page(d, audience="admin")
    parsed = outline(page)
    assert list(d.fix) == parsed.steps
    assert "ol" in parsed.tags and "main" in parsed.tags and "h1" in parsed.tags
    assert escape(d.admin_message) in page
    assert d.learn_more in page
    assert page.startswith("<!doctype html>") and '<html lang="en">' in page


def test_user_page_says_what_happened_and_whom_to_contact_without_admin_steps() -> None:
    d = load_catalogue().get("google.admin_policy_enforced", app_name="Acme Desk")
    page = render_error_page(d, audience="user")
    parsed = outline(page)
    assert parsed.steps == []
    assert escape(d.user_message) in page
    assert "Your IT department" in page
    assert f"<title>{escape(d.title)}</title>" in page
    assert "google.admin_policy_enforced" in parsed.details_text
    assert "http" not in page.split("<style>")[0]  # no external resources in the head


def test_an_unsupported_audience_is_refused() -> None:
    d = load_catalogue().get("unknown")
    with pytest.raises(ValueError, match="audience"):
        render_error_page(d, audience="robot")  # type: ignore[arg-type]
