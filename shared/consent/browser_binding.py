"""The cookie that binds a connect sign-in to the browser that started it.

The connect route sets a short-lived random nonce as a cookie and keeps its hash in the OAuth
state's row (:mod:`shared.consent.oauth_state`); the callback must come back with the same
cookie. Without it, a person could start a connection, send the provider's sign-in link to a
colleague, and have the colleague's mailbox attached to their own identity.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (browsers send it on the
provider's top-level redirect back, not on cross-site subrequests), path-limited to
``/api/oauth/`` (only the callbacks see it), lives as long as a state (10 minutes), and is
``Secure`` whenever the service's public address is https (always in Azure; a local
``http://127.0.0.1`` host cannot store a Secure cookie in every client). Its name carries a
prefix of the nonce's hash, so two sign-ins started in one browser do not overwrite each other.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from shared.consent.oauth_state import DEFAULT_LIFETIME, browser_hash

PREFIX = "calsignin-"
PATH = "/api/oauth/"


def cookie_name(nonce_hash: str) -> str:
    return PREFIX + nonce_hash[:16]


def set_cookie(nonce: str, *, secure: bool) -> str:
    """The ``Set-Cookie`` value that hands ``nonce`` to the browser."""
    attributes = [
        f"{cookie_name(browser_hash(nonce))}={nonce}",
        f"Path={PATH}",
        f"Max-Age={int(DEFAULT_LIFETIME.total_seconds())}",
        "HttpOnly",
        "SameSite=Lax",
    ]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def clear_cookie(nonce_hash: str, *, secure: bool) -> str:
    """The ``Set-Cookie`` value that removes the binding cookie once the callback used it."""
    value = f"{cookie_name(nonce_hash)}=; Path={PATH}; Max-Age=0; HttpOnly; SameSite=Lax"
    return value + ("; Secure" if secure else "")


def nonce_from(cookie_header: str, nonce_hash: str) -> str | None:
    """The nonce the browser sent for the sign-in whose nonce hash is ``nonce_hash``."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header or "")
    except CookieError:
        return None
    morsel = jar.get(cookie_name(nonce_hash))
    return morsel.value if morsel is not None else None
