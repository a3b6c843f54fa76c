"""HTTP plumbing shared by the Google modules: TLS trust, sessions, authorized httplib2.

Two HTTP stacks are in play, because the Google libraries use two:

* ``requests`` for the OAuth endpoints (google-auth-oauthlib's ``OAuth2Session`` and google-auth's
  ``transport.requests.Request``);
* ``httplib2`` for google-api-python-client, wrapped in ``google_auth_httplib2.AuthorizedHttp``,
  which adds the bearer token and, on a 401, refreshes the credentials once and resends.

Both trust the system CAs, or ``PROVIDER_CA_BUNDLE`` when set (the simulator's CA locally).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.providers.base import TokenSource
from shared.settings import Settings, resolve_path

if TYPE_CHECKING:
    import requests


def ca_bundle(settings: Settings) -> str | None:
    """The CA bundle file to verify provider TLS with, or ``None`` for the library default."""
    if not settings.provider_ca_bundle:
        return None
    return str(resolve_path(settings.provider_ca_bundle))


def configure_session(session: requests.Session, settings: Settings) -> requests.Session:
    """Point a ``requests`` session at our CA bundle.

    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` in the environment override ``Session.verify``
    while ``trust_env`` is on (requests merges the environment before the session's own
    setting), so a configured bundle also turns ``trust_env`` off.
    """
    bundle = ca_bundle(settings)
    if bundle is not None:
        session.verify = bundle
        session.trust_env = False
    return session


def requests_session(settings: Settings) -> requests.Session:
    """A new ``requests`` session that trusts the configured CAs."""
    from shared.deadlines import Timeouts
    from shared.providers.sessions import BoundedSession

    return configure_session(BoundedSession(Timeouts.provider(settings).pair), settings)


def authorized_http(settings: Settings, tokens: TokenSource) -> Any:
    """An ``AuthorizedHttp`` whose bearer tokens come from ``tokens``.

    A 401 makes ``AuthorizedHttp`` call ``refresh`` once (``max_refresh_attempts=1``), which asks
    the token source for a new token (``force_refresh=True``) and resends; a second 401 surfaces
    as the API error.
    """
    import google_auth_httplib2
    import httplib2

    # httplib2 has one socket timeout, for connect and every read alike.
    http = httplib2.Http(
        ca_certs=ca_bundle(settings), timeout=settings.provider_read_timeout_seconds
    )
    return google_auth_httplib2.AuthorizedHttp(
        _token_source_credentials(tokens), http=http, max_refresh_attempts=1
    )


def _token_source_credentials(tokens: TokenSource) -> Any:
    """google-auth credentials backed by one of our token sources."""
    from google.auth import credentials

    class TokenSourceCredentials(credentials.Credentials):
        """Asks the token source before every request: the source owns caching and expiry
        (a delegated grant, a domain-wide-delegation service account, or a test fake)."""

        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self._tokens = tokens

        @property
        def expired(self) -> bool:
            return False

        @property
        def valid(self) -> bool:
            return True

        def refresh(self, request: Any) -> None:
            self.token = self._tokens(force_refresh=True)

        def before_request(
            self, request: Any, method: str, url: str, headers: dict[str, str]
        ) -> None:
            self.token = self._tokens()
            self.apply(headers)  # type: ignore[no-untyped-call]

    return TokenSourceCredentials()
