"""The browser-binding cookie of a connect sign-in."""

from __future__ import annotations

from shared.consent.browser_binding import clear_cookie, nonce_from, set_cookie
from shared.consent.oauth_state import PendingAuth, browser_hash, new_browser_nonce


def pending(nonce: str | None) -> PendingAuth:
    return PendingAuth(
        "sid", "connect", "org", "ana", "int", None, {}, browser_hash(nonce) if nonce else None
    )


def test_the_cookie_is_httponly_lax_path_limited_short_and_secure_over_https() -> None:
    nonce = new_browser_nonce()
    cookie = set_cookie(nonce, secure=True)
    parts = [p.strip() for p in cookie.split(";")]
    assert parts[0].endswith("=" + nonce)
    assert {"Path=/api/oauth/", "Max-Age=600", "HttpOnly", "SameSite=Lax", "Secure"} <= set(parts)
    assert "Secure" not in set_cookie(nonce, secure=False)
    assert "Max-Age=0" in clear_cookie(browser_hash(nonce), secure=True)


def test_only_the_browser_holding_the_nonce_matches() -> None:
    mine, other = new_browser_nonce(), new_browser_nonce()
    state = pending(mine)
    header = (
        f"theme=dark; {set_cookie(other, secure=True).split(';')[0]}; "
        + set_cookie(mine, secure=True).split(";")[0]
    )
    assert state.from_this_browser(nonce_from(header, browser_hash(mine)))
    assert not state.from_this_browser(nonce_from("theme=dark", browser_hash(mine)))
    assert not state.from_this_browser(other)
    assert not state.from_this_browser(None)
    assert pending(None).from_this_browser(None)  # a state that was never bound
    assert nonce_from('bad"cookie', browser_hash(mine)) is None
