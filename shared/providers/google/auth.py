"""Per-user Google OAuth (authorization code with PKCE) for workspace integrations.

Built on google-auth-oauthlib's ``Flow`` (authorization URL, code redemption) and google-auth's
``Credentials`` (refresh), as Google's web-server guide describes
(https://developers.google.com/identity/protocols/oauth2/web-server). The token blob kept in the
secret store is Google's authorized-user JSON (``Credentials.to_json``) without the short-lived
access token, so it only changes if Google ever rotates the refresh token.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.deadlines import Timeouts
from shared.errors import (
    ConsentFailed,
    ProviderDenied,
    ProviderError,
    ProviderUnavailable,
    ReconnectNeeded,
)
from shared.providers.base import AccessToken, AuthStart, Grant
from shared.providers.google.transport import configure_session, requests_session
from shared.settings import Settings

PROVIDER = "google"
# Sign-in scopes: the id token then names the account (email, sub, hd). Google never lets the
# person untick them on the granular consent screen.
SIGN_IN_SCOPES = ("openid", "email")
# The access token is not persisted: it lives an hour and the blob should change only on rotation.
_VOLATILE_FIELDS = ["token", "expiry"]


class GoogleDelegatedAuth:
    """:class:`shared.providers.base.DelegatedAuth` for Google.

    Settings: ``GOOGLE_CLIENT_ID``, ``GOOGLE_CLIENT_SECRET``, ``GOOGLE_AUTH_URI``,
    ``GOOGLE_TOKEN_URI``, ``GOOGLE_REVOKE_URI`` and ``PROVIDER_CA_BUNDLE``.
    """

    provider = PROVIDER

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    # --- flow ----------------------------------------------------------------------------------
    def _client_config(self, redirect_uri: str) -> dict[str, Any]:
        s = self._settings
        return {
            "web": {
                "client_id": s.require("google_client_id"),
                "client_secret": s.secret("google_client_secret"),
                "auth_uri": s.google_auth_uri,
                "token_uri": s.google_token_uri,
                "redirect_uris": [redirect_uri],
            }
        }

    def _flow(self, redirect_uri: str, scopes: Sequence[str], code_verifier: str | None) -> Any:
        from google_auth_oauthlib.flow import Flow

        flow = Flow.from_client_config(
            self._client_config(redirect_uri),
            scopes=list(scopes),
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            autogenerate_code_verifier=code_verifier is None,
        )
        # Flow fetches tokens through its requests-oauthlib session.
        configure_session(flow.oauth2session, self._settings)
        return flow

    def begin(
        self,
        *,
        redirect_uri: str,
        state: str,
        scopes: Sequence[str],
        login_hint: str | None = None,
        prompt: str | None = None,
    ) -> AuthStart:
        """Google's authorization URL (PKCE S256, offline access) and the flow to keep.

        ``openid email`` are added to ``scopes`` so the id token names the account. ``prompt``
        defaults to ``consent``: Google only returns a refresh token on a consent screen.
        """
        wanted = list(dict.fromkeys([*SIGN_IN_SCOPES, *scopes]))
        flow = self._flow(redirect_uri, wanted, None)
        extra: dict[str, str] = {}
        if login_hint:
            extra["login_hint"] = login_hint
        url, _ = flow.authorization_url(
            access_type="offline",
            include_granted_scopes="true",
            prompt=prompt or "consent",
            state=state,
            **extra,
        )
        return AuthStart(
            url=url,
            flow={
                "provider": PROVIDER,
                "redirect_uri": redirect_uri,
                "scopes": wanted,
                "code_verifier": flow.code_verifier,
            },
        )

    def complete(self, flow: Mapping[str, Any], params: Mapping[str, str]) -> Grant:
        """Redeem the callback's ``code``; ``ConsentFailed`` for a redirect ``error``
        (``access_denied``, ``admin_policy_enforced``, ...) or a token endpoint error.

        The granted scopes are those of the token response: with granular consent the person
        may have unticked some (https://developers.google.com/identity/protocols/oauth2/
        resources/granular-permissions).
        """
        if params.get("error"):
            raise ConsentFailed(
                provider=PROVIDER,
                error=params["error"],
                error_description=params.get("error_description"),
            )
        code = params.get("code")
        if not code:
            raise ConsentFailed(
                provider=PROVIDER,
                error="invalid_request",
                error_description="The callback carried neither code nor error.",
            )
        oauth_flow = self._flow(
            str(flow["redirect_uri"]), list(flow["scopes"]), str(flow["code_verifier"])
        )
        token = _fetch_token(oauth_flow, code, Timeouts.provider(self._settings).pair)
        granted = _scope_list(token.get("scope"))
        if not token.get("refresh_token"):
            raise ConsentFailed(
                provider=PROVIDER,
                error="no_refresh_token",
                error_description="Google returned no refresh token (offline access missing).",
            )
        id_token = token.get("id_token")
        if not id_token:
            raise ConsentFailed(
                provider=PROVIDER,
                error="no_id_token",
                error_description="Google returned no id token (the openid scope is missing).",
            )
        claims = _id_token_claims(str(id_token))
        credentials = _credentials(token, oauth_flow.client_config, granted)
        return Grant(
            account=str(claims.get("email", "")).lower(),
            user_id=str(claims.get("sub", "")),
            tenant=str(claims.get("hd", "")),
            scopes=frozenset(granted),
            token_blob=credentials.to_json(strip=_VOLATILE_FIELDS),
            display_name=str(claims.get("name", "")),
            # An unverified email is not the account's: Google marks it email_verified false.
            addresses=frozenset(
                {str(claims["email"]).strip().lower()}
                if claims.get("email") and claims.get("email_verified") is not False
                else set()
            ),
        )

    # --- tokens --------------------------------------------------------------------------------
    def access_token(
        self, token_blob: str, scopes: Sequence[str] | None = None, *, force_refresh: bool = False
    ) -> AccessToken:
        """A fresh access token from the stored authorized-user JSON.

        Always refreshes (the blob keeps no access token), so ``force_refresh`` changes
        nothing. ``ReconnectNeeded`` on ``invalid_grant`` (revoked, expired, or the user's
        password/security changed).
        """
        info = json.loads(token_blob)
        if not info.get("refresh_token"):
            raise ReconnectNeeded(
                "The stored Google grant has no refresh token",
                provider=PROVIDER,
                provider_code="no_refresh_token",
            )
        client_config = self._client_config("")["web"]
        # The token URI comes from settings, never from the stored blob: google-auth's own
        # from_authorized_user_info pins it to Google's endpoint for the same reason.
        credentials = _credentials(
            {"access_token": None, "refresh_token": info.get("refresh_token")},
            client_config,
            list(scopes) if scopes else list(info.get("scopes") or []),
        )
        before = info.get("refresh_token")
        refresh_credentials(credentials, self._settings, reconnect_on_invalid_grant=True)
        updated = None
        if credentials.refresh_token and credentials.refresh_token != before:
            updated = credentials.to_json(strip=_VOLATILE_FIELDS)
        return AccessToken(
            token=str(credentials.token),
            expires_at=_aware(credentials.expiry),
            updated_blob=updated,
        )

    def revoke(self, token_blob: str) -> None:
        """Revoke the grant (revoking the refresh token revokes its access tokens too,
        https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke).
        An already revoked token (400 ``invalid_token``) counts as done."""
        import requests

        info = json.loads(token_blob)
        token = info.get("refresh_token") or info.get("token")
        if not token:
            return
        try:
            with requests_session(self._settings) as session:
                response = session.post(
                    self._settings.google_revoke_uri,
                    data={"token": token},
                    headers={"content-type": "application/x-www-form-urlencoded"},
                    timeout=20,
                )
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                f"Google revocation endpoint unreachable: {type(exc).__name__}", provider=PROVIDER
            ) from exc
        if response.status_code == 200:
            return
        error = _json_error(response)
        if response.status_code == 400 and error == "invalid_token":
            return
        if response.status_code >= 500:
            raise ProviderUnavailable(
                f"Google revocation answered {response.status_code}", provider=PROVIDER
            )
        raise ProviderError(
            f"Google revocation answered {response.status_code} {error}",
            provider=PROVIDER,
            provider_code=error or None,
        )


class GoogleUserTokenSource:
    """A :class:`~shared.providers.base.TokenSource` over one stored Google grant.

    Caches the access token until a minute before it expires; ``force_refresh`` (after a 401)
    fetches a new one. ``on_blob_change`` receives a new blob if Google rotated the refresh token
    (persist it then, and only then). Thread-safe.
    """

    def __init__(
        self,
        auth: GoogleDelegatedAuth,
        token_blob: str,
        *,
        scopes: Sequence[str] | None = None,
        on_blob_change: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._auth = auth
        self._blob = token_blob
        self._scopes = list(scopes) if scopes else None
        self._on_blob_change = on_blob_change
        self._clock = clock
        self._lock = threading.Lock()
        self._current: AccessToken | None = None

    def __call__(self, *, force_refresh: bool = False) -> str:
        with self._lock:
            current = self._current
            if (
                force_refresh
                or current is None
                or current.expires_at - timedelta(seconds=60) <= self._clock()
            ):
                current = self._auth.access_token(self._blob, self._scopes)
                self._current = current
                if current.updated_blob is not None:
                    self._blob = current.updated_blob
                    if self._on_blob_change is not None:
                        self._on_blob_change(current.updated_blob)
            return current.token


# --- helpers shared with the service-account module ------------------------------------------
def refresh_credentials(
    credentials: Any, settings: Settings, *, reconnect_on_invalid_grant: bool
) -> None:
    """``credentials.refresh`` with google-auth's errors translated.

    ``invalid_grant`` means the user's grant is gone (``ReconnectNeeded``) for delegated
    credentials; every other refusal is ``ProviderDenied`` with Google's error code, e.g.
    ``unauthorized_client`` when domain-wide delegation does not cover the scopes.
    """
    from google.auth.exceptions import RefreshError, TransportError
    from google.auth.transport.requests import Request

    try:
        with requests_session(settings) as session:
            credentials.refresh(Request(session))
    except RefreshError as exc:
        data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        error = str(data.get("error", "")) or None
        description = str(data.get("error_description", "")) or str(exc.args[0] if exc.args else "")
        if getattr(exc, "retryable", False):
            raise ProviderUnavailable(
                f"Google token endpoint failed: {description}",
                provider=PROVIDER,
                provider_code=error,
            ) from exc
        if error == "invalid_grant" and reconnect_on_invalid_grant:
            raise ReconnectNeeded(
                f"Google refused the refresh token: {description}",
                provider=PROVIDER,
                provider_code="invalid_grant",
            ) from exc
        raise ProviderDenied(
            f"Google refused the token request: {description}",
            provider=PROVIDER,
            provider_code=error,
        ) from exc
    except TransportError as exc:
        raise ProviderUnavailable(
            f"Google token endpoint unreachable: {exc}", provider=PROVIDER
        ) from exc


def _fetch_token(flow: Any, code: str, timeouts: tuple[float, float]) -> dict[str, Any]:
    import requests
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    try:
        with flow.oauth2session:
            # requests-oauthlib sends the token POST with no timeout unless given one.
            return dict(flow.fetch_token(code=code, timeout=timeouts))
    except Warning as changed:
        # oauthlib raises a bare Warning when the granted scope differs from the requested one
        # (granular consent) unless OAUTHLIB_RELAX_TOKEN_SCOPE is set process-wide; the parsed
        # token rides on the exception (oauthlib.oauth2.rfc6749.parameters).
        token = getattr(changed, "token", None)
        if token is None:
            raise
        return dict(token)
    except OAuth2Error as exc:
        raise ConsentFailed(
            provider=PROVIDER, error=exc.error, error_description=exc.description or None
        ) from exc
    except requests.RequestException as exc:
        raise ProviderUnavailable(
            f"Google token endpoint unreachable: {type(exc).__name__}", provider=PROVIDER
        ) from exc


def _credentials(
    token: Mapping[str, Any], client_config: Mapping[str, Any], scopes: list[str]
) -> Any:
    from google.oauth2.credentials import Credentials

    # Scopes are the granted ones: refreshing with a scope the person refused would fail.
    return Credentials(  # type: ignore[no-untyped-call]
        token["access_token"],
        refresh_token=token.get("refresh_token"),
        token_uri=client_config["token_uri"],
        client_id=client_config["client_id"],
        client_secret=client_config["client_secret"],
        scopes=scopes,
        granted_scopes=scopes,
    )


def _id_token_claims(id_token: str) -> dict[str, Any]:
    from google.auth import jwt

    # The id token came straight from the token endpoint over verified TLS, which OpenID
    # Connect Core 3.1.3.7 accepts in place of checking its signature.
    return dict(jwt.decode(id_token, verify=False))  # type: ignore[no-untyped-call]


def _scope_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(s) for s in value]


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        # Google always sends expires_in; without it, treat the token as due for refresh.
        return datetime.now(UTC)
    # google-auth keeps expiry as naive UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _json_error(response: Any) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""
