"""OAuth ``state``: signed, single-use, expiring, bound to an organisation and a person.

The ``state`` sent to Microsoft or Google is ``<payload>.<mac>``: the payload (base64url JSON)
names a random state id, the purpose, the organisation, the subject and the expiry; the MAC is
HMAC-SHA256 under a key kept in the secret store (created on first use). On the callback,
:meth:`OAuthStates.consume` checks, in this order:

1. the MAC (constant-time): anything else is ``forged_state``;
2. the expiry: ``expired_state`` (10 minutes by default, the lifetime of a sign-in page);
3. single use: the state's Table row is deleted with its ETag; a second callback finds nothing
   and gets ``replayed_state``, even when two arrive at once.

A state may also be bound to the browser that started the sign-in: :meth:`OAuthStates.issue`
with ``browser`` (a random nonce the HTTP layer sets as a cookie) keeps only its SHA-256 in the
row, and :meth:`PendingAuth.from_this_browser` compares the cookie the callback carries. A
sign-in link completed in another browser (a colleague's, sent the link) is then refused.

What the flow needs back (the PKCE ``code_verifier``, msal's nonce) is secret: it goes to the
secret store under the state id and is deleted on consumption. The Table row (``oauthstates``)
holds only who, what for and until when; the purge timer removes rows that expired unused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.clock import Clock
from shared.errors import BadRequest, ConcurrencyConflict
from shared.secrets.store import SecretStore
from shared.storage.tables import Entity, TableStore

STATES = "oauthstates"
KEY_SECRET = "oauth-state-signing-key"
DEFAULT_LIFETIME = timedelta(minutes=10)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _flow_secret(state_id: str) -> str:
    return f"oauth-flow-{state_id}"


@dataclass(frozen=True)
class PendingAuth:
    """What a consumed state stood for."""

    state_id: str
    purpose: str
    org: str
    subject: str
    integration_id: str
    return_to: str | None
    flow: dict[str, Any]
    browser: str | None = None  # SHA-256 (hex) of the browser nonce, when bound

    def from_this_browser(self, nonce: str | None) -> bool:
        """Whether the callback's browser nonce is the one the sign-in started with (always true
        for a state that was not bound to a browser)."""
        if self.browser is None:
            return True
        return nonce is not None and hmac.compare_digest(self.browser, browser_hash(nonce))


def new_browser_nonce() -> str:
    """A random value for the browser-binding cookie."""
    return _b64(secrets.token_bytes(32))


def browser_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


class OAuthStates:
    """Issues and consumes OAuth states."""

    def __init__(
        self,
        tables: TableStore,
        secret_store: SecretStore,
        clock: Clock,
        lifetime: timedelta = DEFAULT_LIFETIME,
    ) -> None:
        self._tables = tables
        self._secrets = secret_store
        self._clock = clock
        self._lifetime = lifetime
        self._key: bytes | None = None

    def _signing_key(self) -> bytes:
        if self._key is None:
            stored = self._secrets.get(KEY_SECRET)
            if stored is None:
                self._secrets.set(KEY_SECRET, _b64(secrets.token_bytes(32)))
                # Two instances may race to create it: whatever is stored now is the key.
                stored = self._secrets.get(KEY_SECRET)
            if stored is None:
                raise RuntimeError("the secret store lost the OAuth state key it just stored")
            self._key = _unb64(stored)
        return self._key

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._signing_key(), payload.encode(), hashlib.sha256).digest())

    def issue(
        self,
        *,
        purpose: str,
        org: str,
        subject: str,
        integration_id: str,
        return_to: str | None,
        flow: dict[str, Any] | None = None,
        browser: str | None = None,
    ) -> str:
        """Record a pending sign-in and return the ``state`` to send to the provider.

        The provider's flow (PKCE verifier, nonce) is usually created with this state in hand:
        store it with :meth:`attach_flow` before sending the person away. ``browser`` binds the
        state to the browser holding that nonce (only its hash is stored).
        """
        state_id = _b64(secrets.token_bytes(18))
        now = self._clock.now()
        expires = now + self._lifetime
        payload = _b64(
            json.dumps(
                {
                    "sid": state_id,
                    "p": purpose,
                    "o": org,
                    "s": subject,
                    "exp": int(expires.timestamp()),
                },
                separators=(",", ":"),
            ).encode()
        )
        if flow is not None:
            self._secrets.set(_flow_secret(state_id), json.dumps(flow))
        self._tables.insert(
            STATES,
            Entity(
                state_id,
                "",
                {
                    "purpose": purpose,
                    "org": org,
                    "subject": subject,
                    "integration_id": integration_id,
                    "return_to": return_to,
                    "created_at": now,
                    "expires_at": expires,
                    "browser": browser_hash(browser) if browser else None,
                },
            ),
        )
        return f"{payload}.{self._mac(payload)}"

    @staticmethod
    def state_id(state: str) -> str:
        """The id inside a state (unverified: for naming, e.g. the browser cookie)."""
        try:
            return str(json.loads(_unb64(state.partition(".")[0]))["sid"])
        except (ValueError, KeyError, TypeError):
            return ""

    def attach_flow(self, state: str, flow: dict[str, Any]) -> None:
        """Keep the provider flow of a state just issued (secret until the callback)."""
        state_id = self._verified_claims(state)[0]
        self._secrets.set(_flow_secret(state_id), json.dumps(flow))

    def _verified_claims(self, state: str) -> tuple[str, int]:
        payload, _, mac = state.partition(".")
        if not payload or not mac or not hmac.compare_digest(mac, self._mac(payload)):
            raise BadRequest("the sign-in state is not ours", code="forged_state")
        try:
            claims = json.loads(_unb64(payload))
            return str(claims["sid"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BadRequest("the sign-in state is malformed", code="forged_state") from exc

    def consume(self, state: str, *, purpose: str | None = None) -> PendingAuth:
        """Validate and use up ``state``; raises ``BadRequest`` with a ``*_state`` code."""
        state_id, expires = self._verified_claims(state)
        if self._clock.now().timestamp() >= expires:
            self._discard(state_id)
            raise BadRequest("the sign-in took too long; start again", code="expired_state")
        row = self._tables.get(STATES, state_id, "")
        if row is None:
            raise BadRequest("this sign-in was already completed", code="replayed_state")
        try:
            # Deleting with the ETag we read makes exactly one of two racing callbacks win;
            # the loser meets a changed ETag or nothing left to delete.
            won = self._tables.delete(STATES, state_id, "", etag=row.etag)
        except ConcurrencyConflict:
            won = False
        if not won:
            raise BadRequest("this sign-in was already completed", code="replayed_state")
        if purpose is not None and row.get_str("purpose") != purpose:
            raise BadRequest("the sign-in state is for another flow", code="forged_state")
        flow_text = self._secrets.get(_flow_secret(state_id))
        self._secrets.delete(_flow_secret(state_id))
        return PendingAuth(
            state_id=state_id,
            purpose=row.get_str("purpose"),
            org=row.get_str("org"),
            subject=row.get_str("subject"),
            integration_id=row.get_str("integration_id"),
            return_to=row.get_str("return_to") or None,
            flow=json.loads(flow_text) if flow_text else {},
            browser=row.get_str("browser") or None,
        )

    def _discard(self, state_id: str) -> None:
        self._tables.delete(STATES, state_id, "")
        self._secrets.delete(_flow_secret(state_id))

    def purge_expired(self, now: datetime | None = None) -> int:
        """Remove states that expired unused (their flow secrets too)."""
        cutoff = now or self._clock.now()
        expired = []
        for entity in self._tables.query(STATES):
            expires_at = entity.fields.get("expires_at")
            if isinstance(expires_at, datetime) and expires_at <= cutoff:
                expired.append(entity.partition_key)
        for state_id in expired:
            self._discard(state_id)
        return len(expired)
