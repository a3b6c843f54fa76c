"""return_to must stay inside the allow-list: no open redirects."""

from __future__ import annotations

import pytest

from shared.consent.return_to import check_return_to, with_params
from shared.errors import BadRequest

ALLOWED = ["https://app.example/settings", "http://localhost:3000"]


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example/settings",
        "https://app.example/settings/calendar?tab=1",
        "http://localhost:3000/anything",
        "https://APP.example:443/settings/x",
    ],
)
def test_allowed_urls_pass(url: str) -> None:
    assert check_return_to(url, ALLOWED) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/settings",
        "https://app.example/settings-evil",
        "https://app.example/",
        "http://app.example/settings",
        "https://app.example:8443/settings",
        "https://app.example@evil.example/settings",
        "https://app.example/settings\\@evil.example",
        "//evil.example/settings",
        "javascript:alert(1)",
        "/settings",
        "",
    ],
)
def test_everything_else_is_refused(url: str) -> None:
    with pytest.raises(BadRequest) as refused:
        check_return_to(url, ALLOWED)
    assert refused.value.code == "return_to_not_allowed"


def test_params_are_added_to_the_return_url() -> None:
    assert with_params("https://a.example/x?y=1", calendar="connected") == (
        "https://a.example/x?y=1&calendar=connected"
    )
