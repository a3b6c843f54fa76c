"""What the core needs from a cloud suite, independent of Microsoft or Google.

Two seams:

* :class:`DelegatedAuth`: the per-user OAuth flow of workspace integrations (authorization code
  with PKCE), token refresh from the stored token blob, revocation.
* :class:`CalendarClient`: one mailbox/calendar, with a :class:`TokenSource` that yields bearer
  tokens (delegated for workspace integrations, app-only for service integrations). Reads for the
  live agenda and the test-flow preview, idempotent writes for host-app events, incremental change
  pages for the sync engine, push subscriptions, rooms.

Everything here is a value object; nothing holds calendar content beyond the call that returned
it. Implementations translate provider errors once into :mod:`shared.errors` (``Throttled``,
``ProviderUnavailable``, ``ProviderDenied``, ``ProviderNotFound``, ``PreconditionFailed``,
``CursorExpired``, ``ReconnectNeeded``, ``ConsentFailed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

ShowAs = Literal["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"]
Response = Literal["none", "accepted", "tentative", "declined", "organizer"]
AttendeeKind = Literal["required", "optional", "resource"]


# --- Delegated authorization -------------------------------------------------------------------


@dataclass(frozen=True)
class AuthStart:
    """Where to send the person, and what must come back to finish (kept secret until then)."""

    url: str
    flow: dict[str, Any]


@dataclass(frozen=True)
class Grant:
    """The outcome of a successful authorization-code redemption.

    ``token_blob`` is secret (msal's serialized token cache, or Google's authorized-user JSON):
    it goes to the secret store and nowhere else.
    """

    account: str  # UPN or email address
    user_id: str  # Entra object id, or Google account id (sub)
    tenant: str  # Entra tenant id, or Google Workspace domain (hd); "" for consumer accounts
    scopes: frozenset[str]
    token_blob: str
    display_name: str = ""
    # Every address the provider vouches for as this account's, lower-cased (Microsoft: the
    # id token's email, preferred_username and upn claims; Google: the verified email).
    addresses: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime
    # The token blob when refreshing changed it (a rotated refresh token): persist it, and only
    # then (msal's cache has_state_changed; Google's refresh token is stable).
    updated_blob: str | None = None


class DelegatedAuth(Protocol):
    """Per-user OAuth for one provider, configured from settings."""

    provider: str

    def begin(
        self,
        *,
        redirect_uri: str,
        state: str,
        scopes: Sequence[str],
        login_hint: str | None = None,
        prompt: str | None = None,
    ) -> AuthStart:
        """The provider's authorization URL (PKCE S256) and the flow to keep until the callback."""

    def complete(self, flow: Mapping[str, Any], params: Mapping[str, str]) -> Grant:
        """Redeem the callback's query parameters.

        Raises ``ConsentFailed`` when the redirect carries ``error`` or the token endpoint refuses
        (the provider's error, description, error codes and suberror are kept).
        """

    def access_token(
        self, token_blob: str, scopes: Sequence[str] | None = None, *, force_refresh: bool = False
    ) -> AccessToken:
        """A valid access token from the stored blob, refreshing when needed.

        ``force_refresh`` redeems the refresh token even when a cached access token is still
        valid: it proves the connection still works (the refresh token was not revoked).

        Raises ``ReconnectNeeded`` when the refresh token is revoked or expired
        (``invalid_grant``, AADSTS700082/50173), ``ProviderUnavailable``/``Throttled`` on faults.
        """

    def revoke(self, token_blob: str) -> None:
        """Revoke at the provider where it supports it (Google); best effort, never raises
        for an already revoked token."""


class TokenSource(Protocol):
    """Bearer tokens for one mailbox; ``force_refresh`` after a 401."""

    def __call__(self, *, force_refresh: bool = False) -> str: ...


# --- Calendar data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    user_id: str
    account: str
    display_name: str


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    kind: AttendeeKind = "required"
    response: Response = "none"


@dataclass(frozen=True)
class EventView:
    """An event as read live for display (agenda, test-flow preview). Never stored."""

    id: str
    subject: str
    start: datetime
    end: datetime
    is_all_day: bool = False
    location: str = ""
    organizer: str = ""
    attendees: tuple[Attendee, ...] = ()
    show_as: ShowAs = "busy"
    is_cancelled: bool = False
    web_link: str = ""
    ical_uid: str = ""
    change_key: str = ""
    app_ref: str | None = None  # our marker when the service created the event
    time_zone: str = ""  # the IANA zone the event was created in ("" when unknown)


@dataclass(frozen=True)
class EventDraft:
    """A host-app event to put in one person's calendar.

    ``key`` is our idempotency key, deterministic per (organisation, host-app event, person):
    it becomes Graph's ``transactionId`` and, base32hex-encoded, Google's client-supplied event
    id, so a retried create never makes a second event. ``app_ref`` is written as a private
    extended property and identifies the service's own events (and their echoes) when pulled.
    """

    key: str
    app_ref: str
    subject: str
    start: datetime
    end: datetime
    body: str = ""
    location: str = ""
    attendees: tuple[Attendee, ...] = ()
    show_as: ShowAs = "busy"
    # The event's own IANA zone: times are written in it, so the wall-clock time (and a
    # series' occurrences) hold across daylight-saving changes.
    time_zone: str = "UTC"
    # A host-app series: one RRULE of :mod:`shared.recurrence`'s subset; ``start``/``end`` are
    # then the first occurrence. Written as one series (Graph patternedRecurrence, Google RRULE).
    recurrence: str | None = None
    # Whole days in ``time_zone``: ``start`` and ``end`` are local midnights.
    all_day: bool = False


@dataclass(frozen=True)
class WrittenEvent:
    id: str
    change_key: str
    ical_uid: str = ""


@dataclass(frozen=True)
class Change:
    """One item of an incremental change page: only what sync needs, no content."""

    id: str
    removed: bool = False
    start: datetime | None = None
    end: datetime | None = None
    show_as: ShowAs = "busy"
    is_cancelled: bool = False
    change_key: str = ""
    app_ref: str | None = None
    attendees: tuple[Attendee, ...] = ()  # emails and responses only (declines, room answers)
    # The series an occurrence belongs to (Graph ``seriesMasterId``, Google
    # ``recurringEventId``); "" for single events.
    series_id: str = ""
    original_start: datetime | None = None  # an occurrence's start in its series' rule
    # Set on the change of a series itself (its id is the series id): every occurrence of it in
    # the window, after this page. Occurrences kept from before and missing here are gone (the
    # series ended early, its rule changed, or it was deleted: then empty).
    instances: tuple[str, ...] | None = None
    time_zone: str = ""  # the IANA zone the event was created in ("" when unknown)


@dataclass(frozen=True)
class ChangePage:
    changes: list[Change]
    cursor: str  # pass back to continue: a nextLink/pageToken or, when ``complete``, a delta
    complete: bool  # True: this was the last page; ``cursor`` is the next round's starting point


@dataclass(frozen=True)
class Subscription:
    """A Graph subscription or a Google channel."""

    id: str
    expires_at: datetime
    resource: str
    resource_id: str = ""  # Google's X-Goog-Resource-ID, needed to stop a channel
    # Google channels cannot be extended: ``renew`` opens a new channel, which needs the address
    # and the channel token again. Graph ignores both. ``client_state`` is secret (never logged).
    notification_url: str = ""
    client_state: str = field(default="", repr=False)


@dataclass(frozen=True)
class RoomInfo:
    email: str
    name: str
    capacity: int | None = None
    building: str = ""


class CalendarClient(Protocol):
    """One person's (or room's) calendar at one provider.

    A client may hold connections (Google's httplib2 transport is per client and not
    thread-safe): use it from one thread and :meth:`close` it when done (``with closing(...)``).
    """

    def close(self) -> None:
        """Release the client's connections; idempotent."""

    def profile(self) -> Profile:
        """Who the token belongs to (delegated) or the mailbox owner (app-only)."""

    def events_between(self, start: datetime, end: datetime, limit: int = 50) -> list[EventView]:
        """Live agenda, expanded occurrences, ordered by start."""

    def get_event(self, event_id: str) -> EventView | None:
        """One event, or ``None`` when it no longer exists."""

    def create_event(self, draft: EventDraft) -> WrittenEvent:
        """Create idempotently by ``draft.key``: a repeat returns the event made the first time."""

    def update_event(
        self, event_id: str, draft: EventDraft, *, if_match: str | None = None
    ) -> WrittenEvent:
        """Replace our fields; ``PreconditionFailed`` when ``if_match`` no longer matches,
        ``ProviderNotFound`` when the event is gone."""

    def delete_event(self, event_id: str) -> None:
        """Delete (cancel, when we organised it with attendees); already gone counts as done."""

    def update_occurrence(
        self, series_id: str, original_start: datetime, draft: EventDraft
    ) -> WrittenEvent:
        """Change one occurrence of our series (it becomes an exception): ``draft``'s times and
        fields, its ``recurrence`` ignored. ``ProviderNotFound`` when the series or that
        occurrence is gone (deleted, cancelled, or not produced by the series' rule)."""

    def cancel_occurrence(self, series_id: str, original_start: datetime) -> None:
        """Cancel one occurrence of our series; already cancelled or gone counts as done."""

    def changes(
        self, cursor: str | None, window_start: datetime, window_end: datetime, page_size: int = 100
    ) -> ChangePage:
        """One page of changes since ``cursor`` (``None``: start a full sync of the window).

        ``CursorExpired`` when the provider no longer knows the cursor (Graph 410, Google 410
        ``fullSyncRequired``): the caller drops it and starts again with ``None``.
        """

    def subscribe(
        self,
        *,
        notification_url: str,
        client_state: str,
        expires_at: datetime,
        lifecycle_url: str | None = None,
        channel_id: str | None = None,
    ) -> Subscription:
        """Ask for change notifications on this calendar's events (Graph subscription with
        ``clientState``, or Google ``events.watch`` with ``token`` = ``client_state``)."""

    def renew(self, subscription: Subscription, expires_at: datetime) -> Subscription:
        """Extend a Graph subscription; Google channels cannot be extended (a new one is made
        and the old one stopped)."""

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop notifications; already gone counts as done."""

    def rooms(self) -> list[RoomInfo]:
        """The suite's rooms (Graph places with Place.Read.All; Google Admin directory
        calendar resources). ``ProviderDenied`` when the permission is missing."""
