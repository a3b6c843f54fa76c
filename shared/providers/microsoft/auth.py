"""Entra ID (Microsoft identity platform) sign-in with msal, behind our own typed seam.

* :class:`MicrosoftDelegatedAuth` implements :class:`~shared.providers.base.DelegatedAuth`:
  authorization code with PKCE on the ``organizations`` authority (any work or school tenant may
  sign in: a multi-tenant app), redemption into a :class:`Grant` whose ``token_blob`` is msal's
  serialized token cache for that one user, silent refresh from that blob, admin consent URLs.
* :class:`MicrosoftAppAuth`: client-credentials (app-only) tokens for one tenant, for room
  listing (``Place.Read.All``) and for service integrations with their own app registration.

msal reports errors as dicts; they become :mod:`shared.errors` exceptions here and only here.
msal's HTTP goes through a ``requests.Session`` we build (``trust_env=False``, ``verify=`` the
provider CA bundle): otherwise ``REQUESTS_CA_BUNDLE`` from the environment would silently win
over ``verify``.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msal
import requests
from msal.exceptions import MsalServiceError

from shared.deadlines import Timeouts
from shared.errors import (
    ConsentFailed,
    ProviderDenied,
    ProviderError,
    ProviderUnavailable,
    ReconnectNeeded,
)
from shared.providers.base import AccessToken, AuthStart, DelegatedAuth, Grant, TokenSource
from shared.providers.sessions import DEFAULT_TIMEOUTS, BoundedSession
from shared.providers.urls import segment
from shared.settings import Settings, resolve_path

PROVIDER = "microsoft"
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
# What the workspace integration asks each person for (issue 4); msal adds openid, profile and
# offline_access itself and refuses them as explicit scopes.
DELEGATED_SCOPES: tuple[str, ...] = ("Calendars.ReadWrite", "User.Read")
_RESERVED = frozenset({"openid", "profile", "offline_access"})
_AADSTS = re.compile(r"AADSTS(\d+)")
# Errors of a refresh that only a new interactive sign-in can fix: invalid_grant covers revoked
# or expired refresh tokens (AADSTS700082, 50173), interaction_required covers MFA/CA
# (AADSTS50076, 53003), consent_required a withdrawn consent (AADSTS65001). See
# https://learn.microsoft.com/entra/identity-platform/reference-error-codes#handling-error-codes-in-your-application
_RECONNECT_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required"})
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})

# msal fetches the authority's OpenID configuration when an application object is built; an
# http_cache keeps that to one request per authority (msal caches discovery GETs for 24 h, and
# throttles token POSTs that answered 429/5xx for their Retry-After). One cache per thread: each
# msal application guards the cache's index with a lock of its own, so application objects of
# different threads must not share one.
_HTTP_CACHES = threading.local()


def _http_cache() -> dict[Any, Any]:
    cache: dict[Any, Any] | None = getattr(_HTTP_CACHES, "cache", None)
    if cache is None:
        cache = _HTTP_CACHES.cache = {}
    return cache


def error_codes_in(text: str | None) -> list[int]:
    """The AADSTS numbers quoted in an ``error_description``."""
    return [int(code) for code in _AADSTS.findall(text or "")]


def trusted_session(
    ca_bundle: str | None, timeouts: tuple[float, float] = DEFAULT_TIMEOUTS
) -> requests.Session:
    """A ``requests.Session`` for msal that trusts ``ca_bundle`` (or the system CAs) and gives
    every request ``timeouts`` (msal sets none on a session it is handed)."""
    session = BoundedSession(timeouts)
    # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / proxies from the environment would override verify=.
    session.trust_env = False
    session.verify = str(resolve_path(ca_bundle)) if ca_bundle else True
    return session


def _expires_at(result: Mapping[str, Any]) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=int(result.get("expires_in", 3600)))


def _provider_code(result: Mapping[str, Any]) -> str:
    codes = result.get("error_codes") or error_codes_in(result.get("error_description"))
    return f"AADSTS{codes[0]}" if codes else str(result.get("error", "unknown_error"))


def _token_error(result: Mapping[str, Any]) -> ProviderError:
    """A failed token request (not a consent redirect) as our exception."""
    error = str(result.get("error", ""))
    detail = str(result.get("error_description") or error)
    code = _provider_code(result)
    if error in _RECONNECT_ERRORS:
        return ReconnectNeeded(detail, provider=PROVIDER, provider_code=code, error=error)
    if error in _TRANSIENT_ERRORS:
        return ProviderUnavailable(detail, provider=PROVIDER, provider_code=code)
    # invalid_client (a wrong secret, AADSTS7000215), unauthorized_client (AADSTS700016), ...
    return ProviderDenied(detail, provider=PROVIDER, provider_code=code, error=error)


class MicrosoftAppAuth:
    """App-only tokens (client credentials) for one tenant and one app registration.

    ``client_secret`` is a secret string, or msal's certificate form
    (``{"private_key": PEM, "public_certificate": PEM}``: msal signs a client assertion JWT
    with the key, SHA-256 thumbprint in ``x5t#S256``, as Entra ID's certificate credentials
    expect). One instance keeps msal's in-memory token cache, so repeated calls reuse a valid
    token.
    """

    provider = PROVIDER

    def __init__(
        self,
        authority_host: str,
        tenant_id: str,
        client_id: str,
        client_secret: str | Mapping[str, str],
        ca_bundle: str | None = None,
        *,
        http_client: requests.Session | None = None,
        timeouts: tuple[float, float] = DEFAULT_TIMEOUTS,
    ) -> None:
        self._authority = f"{authority_host.rstrip('/')}/{segment(tenant_id)}"
        self._client_id = client_id
        self._secret = client_secret
        self._session = http_client or trusted_session(ca_bundle, timeouts)
        self._lock = threading.Lock()
        self._app: Any = None
        self._http_cache: dict[Any, Any] = {}

    def _application(self, fresh: bool) -> Any:
        with self._lock:
            if self._app is None or fresh:
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self._client_id,
                        client_credential=(
                            self._secret if isinstance(self._secret, str) else dict(self._secret)
                        ),
                        authority=self._authority,
                        instance_discovery=False,
                        http_client=self._session,
                        # A long-lived app object used from many threads: a cache of its own.
                        http_cache=self._http_cache,
                    )
                except (requests.RequestException, MsalServiceError, ValueError) as exc:
                    # An unknown tenant fails msal's OpenID discovery with a 400 whose body is
                    # Entra's AADSTS90002 answer: that is the admin's typo, not an outage.
                    # msal re-raises the discovery error; the answer is in its context.
                    codes = error_codes_in(f"{exc} {exc.__context__ or ''}")
                    if isinstance(exc, ValueError) and codes:
                        raise ProviderDenied(
                            f"authority {self._authority} refused: {exc}",
                            provider=PROVIDER,
                            provider_code=f"AADSTS{codes[0]}",
                        ) from exc
                    raise ProviderUnavailable(
                        f"authority {self._authority} unreachable or invalid: {exc}",
                        provider=PROVIDER,
                    ) from exc
            return self._app

    def token(
        self, scopes: Sequence[str] = (GRAPH_DEFAULT_SCOPE,), *, force_refresh: bool = False
    ) -> AccessToken:
        """An app-only access token; ``force_refresh`` drops the cached one (after a 401)."""
        app = self._application(fresh=force_refresh)
        try:
            result = app.acquire_token_for_client(list(scopes))
        except (requests.RequestException, MsalServiceError) as exc:
            raise ProviderUnavailable(str(exc), provider=PROVIDER) from exc
        if "access_token" not in result:
            raise _token_error(result)
        return AccessToken(token=result["access_token"], expires_at=_expires_at(result))

    def token_source(self, scopes: Sequence[str] = (GRAPH_DEFAULT_SCOPE,)) -> TokenSource:
        """A :class:`TokenSource` for a Graph client acting as the app."""

        def source(*, force_refresh: bool = False) -> str:
            return self.token(scopes, force_refresh=force_refresh).token

        return source


class MicrosoftDelegatedAuth:
    """Per-user OAuth for Microsoft 365 (implements ``DelegatedAuth``), configured by settings:
    ``MICROSOFT_AUTHORITY_HOST``, ``MICROSOFT_CLIENT_ID``, ``MICROSOFT_CLIENT_SECRET``,
    ``PROVIDER_CA_BUNDLE``."""

    provider = PROVIDER

    def __init__(self, settings: Settings, *, http_client: requests.Session | None = None) -> None:
        self._host = settings.microsoft_authority_host.rstrip("/")
        self._client_id: str = settings.require("microsoft_client_id")
        self._secret = settings.secret("microsoft_client_secret")
        # Relative paths are relative to the app root, whatever the working directory.
        self._ca_bundle = (
            str(resolve_path(settings.provider_ca_bundle)) if settings.provider_ca_bundle else None
        )
        self._session = http_client or trusted_session(
            self._ca_bundle, Timeouts.provider(settings).pair
        )
        self._app_auth: dict[str, MicrosoftAppAuth] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP session msal uses (and those of the app-only auths it made)."""
        self._session.close()

    # --- msal plumbing ---------------------------------------------------------------------

    def _application(self, cache: Any, tenant: str = "organizations") -> Any:
        try:
            return msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._secret,
                authority=f"{self._host}/{segment(tenant)}",
                instance_discovery=False,
                http_client=self._session,
                http_cache=_http_cache(),
                token_cache=cache,
            )
        except (requests.RequestException, MsalServiceError, ValueError) as exc:
            raise ProviderUnavailable(
                f"authority {self._host}/{tenant} unreachable or invalid: {exc}",
                provider=PROVIDER,
            ) from exc

    # --- DelegatedAuth ---------------------------------------------------------------------

    def begin(
        self,
        *,
        redirect_uri: str,
        state: str,
        scopes: Sequence[str],
        login_hint: str | None = None,
        prompt: str | None = None,
    ) -> AuthStart:
        """The authorize URL (PKCE S256 added by msal) and msal's flow dict to keep secret."""
        wanted = [s for s in scopes if s not in _RESERVED]
        app = self._application(msal.SerializableTokenCache())
        with warnings.catch_warnings():
            # msal recommends response_mode=form_post; the product's callback is a GET
            # (docs/product.md: GET /oauth/microsoft/callback), and the code in the query is
            # single-use, bound to the PKCE verifier and redeemable only with our client secret.
            warnings.filterwarnings(
                "ignore", message="response_mode='form_post' is recommended", category=UserWarning
            )
            flow = app.initiate_auth_code_flow(
                wanted,
                redirect_uri=redirect_uri,
                state=state,
                prompt=prompt,
                login_hint=login_hint,
                response_mode="query",
            )
        return AuthStart(url=str(flow["auth_uri"]), flow=dict(flow))

    def complete(self, flow: Mapping[str, Any], params: Mapping[str, str]) -> Grant:
        """Redeem the callback; ``ConsentFailed`` for a redirect error or a refused code."""
        if params.get("error"):
            description = params.get("error_description")
            raise ConsentFailed(
                provider=PROVIDER,
                error=params["error"],
                error_description=description,
                error_codes=error_codes_in(description),
                suberror=params.get("suberror") or params.get("error_subcode"),
            )
        cache = msal.SerializableTokenCache()
        app = self._application(cache)
        try:
            result = app.acquire_token_by_auth_code_flow(dict(flow), dict(params))
        except ValueError as exc:
            # msal raises ValueError when the state does not match the flow's.
            raise ConsentFailed(
                provider=PROVIDER, error="state_mismatch", error_description=str(exc)
            ) from exc
        except (requests.RequestException, MsalServiceError) as exc:
            raise ProviderUnavailable(str(exc), provider=PROVIDER) from exc
        if "access_token" not in result:
            description = result.get("error_description")
            raise ConsentFailed(
                provider=PROVIDER,
                error=str(result.get("error", "unknown_error")),
                error_description=description,
                error_codes=list(result.get("error_codes") or error_codes_in(description)),
                suberror=result.get("suberror"),
            )
        claims = result.get("id_token_claims") or {}
        return Grant(
            account=str(claims.get("preferred_username", "")),
            user_id=str(claims.get("oid", "")),
            tenant=str(claims.get("tid", "")),
            scopes=frozenset(str(result.get("scope", "")).split()),
            token_blob=cache.serialize(),
            display_name=str(claims.get("name", "")),
            addresses=frozenset(
                str(claims[name]).strip().lower()
                for name in ("email", "preferred_username", "upn")
                if claims.get(name)
            ),
        )

    def access_token(
        self,
        token_blob: str,
        scopes: Sequence[str] | None = None,
        *,
        force_refresh: bool = False,
    ) -> AccessToken:
        """A valid delegated access token; ``updated_blob`` is set only when msal's cache
        changed (a refreshed access token and rotated refresh token), so the caller writes the
        secret store only then. ``ReconnectNeeded`` when the grant is gone."""
        cache = msal.SerializableTokenCache()
        try:
            cache.deserialize(token_blob)
        except ValueError as exc:
            raise ReconnectNeeded(
                "the stored token cache is unreadable", provider=PROVIDER, provider_code="no_token"
            ) from exc
        app = self._application(cache)
        accounts = app.get_accounts()
        if not accounts:
            raise ReconnectNeeded(
                "no account in the stored token cache", provider=PROVIDER, provider_code="no_token"
            )
        try:
            result = app.acquire_token_silent_with_error(
                list(scopes or DELEGATED_SCOPES), account=accounts[0], force_refresh=force_refresh
            )
        except (requests.RequestException, MsalServiceError) as exc:
            raise ProviderUnavailable(str(exc), provider=PROVIDER) from exc
        if result is None:
            # No access token and no refresh token usable for these scopes.
            raise ReconnectNeeded(
                "no usable token for the requested scopes",
                provider=PROVIDER,
                provider_code="no_token",
            )
        if "access_token" not in result:
            raise _token_error(result)
        return AccessToken(
            token=result["access_token"],
            expires_at=_expires_at(result),
            updated_blob=cache.serialize() if cache.has_state_changed else None,
        )

    def token_source(
        self,
        token_blob: str,
        scopes: Sequence[str] | None = None,
        *,
        on_rotated: Callable[[str], None] | None = None,
    ) -> TokenSource:
        """A :class:`TokenSource` over a stored blob: keeps the newest blob in memory and hands
        every rotated blob to ``on_rotated`` (which persists it to the secret store)."""
        current = [token_blob]
        lock = threading.Lock()

        def source(*, force_refresh: bool = False) -> str:
            with lock:
                token = self.access_token(current[0], scopes, force_refresh=force_refresh)
                if token.updated_blob is not None:
                    current[0] = token.updated_blob
                    if on_rotated is not None:
                        on_rotated(token.updated_blob)
                return token.token

        return source

    def revoke(self, token_blob: str) -> None:
        """Nothing to call: the Microsoft identity platform has no endpoint that revokes one
        app's delegated refresh token (only an admin's revokeSignInSessions, which signs the
        user out of every app). Deleting the stored blob, which the caller does, is the
        revocation; the refresh token then expires unused (90 days of inactivity, see
        https://learn.microsoft.com/entra/identity-platform/refresh-tokens)."""
        del token_blob

    # --- app-only and admin consent ---------------------------------------------------------

    def app_auth(self, tenant_id: str) -> MicrosoftAppAuth:
        """This app registration's client-credentials auth in ``tenant_id`` (one per tenant)."""
        with self._lock:
            if tenant_id not in self._app_auth:
                self._app_auth[tenant_id] = MicrosoftAppAuth(
                    self._host,
                    tenant_id,
                    self._client_id,
                    self._secret,
                    self._ca_bundle,
                    http_client=self._session,
                )
            return self._app_auth[tenant_id]

    def app_token(
        self, tenant_id: str, scopes: Sequence[str] = (GRAPH_DEFAULT_SCOPE,)
    ) -> AccessToken:
        """An app-only token in ``tenant_id`` (needs admin-consented application permissions)."""
        return self.app_auth(tenant_id).token(scopes)

    def admin_consent_url(self, *, tenant: str | None, redirect_uri: str, state: str) -> str:
        """The v2.0 admin consent URL for all the app's configured permissions (``.default``).

        https://learn.microsoft.com/entra/identity-platform/v2-admin-consent: without a known
        tenant, ``organizations`` lets any work or school admin sign in and consent.
        """
        query = urlencode(
            {
                "client_id": self._client_id,
                "scope": GRAPH_DEFAULT_SCOPE,
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self._host}/{segment(tenant or 'organizations')}/v2.0/adminconsent?{query}"

    @staticmethod
    def parse_admin_consent(params: Mapping[str, str]) -> tuple[str, bool]:
        """``(tenant_id, granted)`` from the admin consent callback; ``ConsentFailed`` on
        ``error=`` (e.g. access_denied / AADSTS65004 when the admin cancelled)."""
        if params.get("error"):
            description = params.get("error_description")
            raise ConsentFailed(
                provider=PROVIDER,
                error=params["error"],
                error_description=description,
                error_codes=error_codes_in(description),
                suberror=params.get("suberror") or params.get("error_subcode"),
            )
        granted = str(params.get("admin_consent", "")).lower() == "true"
        return str(params.get("tenant", "")), granted


if TYPE_CHECKING:  # mypy proves the class satisfies the protocol the core programs against.

    def _conforms(settings: Settings) -> DelegatedAuth:
        return MicrosoftDelegatedAuth(settings)
