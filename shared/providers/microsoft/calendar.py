"""``GraphCalendarClient``: one mailbox's calendar through Microsoft Graph (``CalendarClient``).

Delegated clients address ``/me``; app-only clients (service integrations) address
``/users/{id or address}``. Transport, the concurrency cap, retries and the error mapping live in
:mod:`.graph_http`; JSON shapes in :mod:`.mapping`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from shared.errors import ProviderNotFound
from shared.providers.base import (
    CalendarClient,
    ChangePage,
    EventDraft,
    EventView,
    Profile,
    RoomInfo,
    Subscription,
    TokenSource,
    WrittenEvent,
)
from shared.providers.microsoft import mapping
from shared.providers.microsoft.graph_http import GraphHttp
from shared.providers.retry import RetryPolicy
from shared.providers.urls import segment
from shared.settings import Settings

UTC_PREFER = 'outlook.timezone="UTC"'
# How far from its original start an exception is looked for (host-app moves stay near).
OCCURRENCE_REACH = timedelta(days=31)
ROOM_PAGE = 100


class GraphCalendarClient:
    """One person's (or room's) Outlook calendar.

    Args:
        settings: ``MICROSOFT_GRAPH_URL``, ``PROVIDER_CA_BUNDLE``.
        tokens: delegated (``MicrosoftDelegatedAuth.token_source``) or app-only
            (``MicrosoftAppAuth.token_source``) bearer tokens.
        user: ``"me"`` for the signed-in person, else a user id or address (app-only).
        http: an ``httpx.Client`` to reuse (default: the process's shared Graph client).
        mailbox_key: the key of the 4-requests-per-mailbox cap; defaults to ``user``, and for
            ``"me"`` clients to this token source (pass the user id to share the cap across
            clients of the same person).
        app_only: ``tokens`` are app-only: a 403 is retried once with a fresh token, so an
            application permission an admin just granted takes effect at once.
    """

    provider = "microsoft"

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        *,
        user: str = "me",
        http: httpx.Client | None = None,
        mailbox_key: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        app_only: bool = False,
    ) -> None:
        self.user = user
        self._prefix = "me" if user == "me" else f"users/{segment(user)}"
        key = mailbox_key or (f"me:{id(tokens)}" if user == "me" else user)
        extra: dict[str, Any] = {"retry": retry} if retry is not None else {}
        if sleep is not None:
            extra["sleep"] = sleep
        self._graph = GraphHttp(
            settings, tokens, mailbox=key, http=http, refresh_on_forbidden=app_only, **extra
        )

    def close(self) -> None:
        """Nothing to release: Graph clients share the process's pooled httpx client."""

    # --- reads -----------------------------------------------------------------------------

    def profile(self) -> Profile:
        """``GET /me`` (or ``/users/{user}``): id, address, display name."""
        raw = self._graph.get_json(
            self._prefix, params={"$select": "id,displayName,mail,userPrincipalName"}
        )
        return mapping.profile(raw)

    def events_between(self, start: datetime, end: datetime, limit: int = 50) -> list[EventView]:
        """``calendarView`` (occurrences expanded), ordered by start, at most ``limit``."""
        params = {
            "startDateTime": mapping.iso_z(start),
            "endDateTime": mapping.iso_z(end),
            "$orderby": "start/dateTime",
            "$top": str(min(limit, 1000)),
            "$expand": mapping.EXPAND_APP_REF,
        }
        url: str | None = f"{self._prefix}/calendarView"
        query: dict[str, str] | None = params
        out: list[EventView] = []
        while url is not None and len(out) < limit:
            body = self._graph.get_json(url, params=query, headers={"Prefer": UTC_PREFER})
            out.extend(mapping.event_view(raw) for raw in body.get("value", []))
            # A nextLink carries every query option already.
            url, query = body.get("@odata.nextLink"), None
        return out[:limit]

    def get_event(self, event_id: str) -> EventView | None:
        """One event, or ``None`` when it is gone."""
        try:
            raw = self._graph.get_json(
                f"{self._prefix}/events/{segment(event_id)}",
                params={"$expand": mapping.EXPAND_APP_REF},
                headers={"Prefer": UTC_PREFER},
            )
        except ProviderNotFound:
            return None
        return mapping.event_view(raw)

    # --- writes ----------------------------------------------------------------------------

    def create_event(self, draft: EventDraft) -> WrittenEvent:
        """``POST /events`` with ``transactionId`` = ``draft.key``: a retry returns the first."""
        response = self._graph.request(
            "POST",
            f"{self._prefix}/events",
            json=mapping.draft_body(draft, create=True),
            headers={"Prefer": UTC_PREFER},
        )
        return mapping.written(response.json())

    def update_event(
        self, event_id: str, draft: EventDraft, *, if_match: str | None = None
    ) -> WrittenEvent:
        """``PATCH`` our fields; ``if_match`` is a change key or an ``@odata.etag``."""
        headers = {"Prefer": UTC_PREFER}
        if if_match:
            # Graph's ETag is W/"<changeKey>"; accept either form from the caller. A change key
            # is base64, which has no '"' but may well begin with "W/": only a quoted value is
            # an ETag, anything else is a change key to wrap (else such a key never matches and
            # every update of that event fails with 412 for good).
            headers["If-Match"] = if_match if _is_etag(if_match) else f'W/"{if_match}"'

        response = self._graph.request(
            "PATCH",
            f"{self._prefix}/events/{segment(event_id)}",
            json=mapping.draft_body(draft, create=False),
            headers=headers,
        )
        return mapping.written(response.json())

    def delete_event(self, event_id: str) -> None:
        """``DELETE``; as organizer of a meeting this sends the cancellation. Gone is done."""
        try:
            self._graph.request("DELETE", f"{self._prefix}/events/{segment(event_id)}")
        except ProviderNotFound:
            return

    def _occurrence(self, series_id: str, original_start: datetime) -> dict[str, Any] | None:
        """The occurrence or exception of ``series_id`` that originally starts at
        ``original_start``, from ``/instances`` (cancelled occurrences are not listed). The
        window is wide because an exception is listed at its current time, which may have moved.
        """
        url: str | None = f"{self._prefix}/events/{segment(series_id)}/instances"
        query: dict[str, str] | None = {
            "startDateTime": mapping.iso_z(original_start - OCCURRENCE_REACH),
            "endDateTime": mapping.iso_z(original_start + OCCURRENCE_REACH),
            "$select": "id,originalStart,changeKey,type",
        }
        while url is not None:
            body = self._graph.get_json(url, params=query, headers={"Prefer": UTC_PREFER})
            for raw in body.get("value", []):
                found = raw.get("originalStart")
                if found and mapping.parse_iso(found) == original_start:
                    return dict(raw)
            url, query = body.get("@odata.nextLink"), None
        return None

    def update_occurrence(
        self, series_id: str, original_start: datetime, draft: EventDraft
    ) -> WrittenEvent:
        """``PATCH`` one occurrence: Graph keeps it as an exception of the series
        (https://learn.microsoft.com/graph/outlook-schedule-recurring-events)."""
        raw = self._occurrence(series_id, original_start)
        if raw is None:
            raise ProviderNotFound("no such occurrence of the series", provider="microsoft")
        body = mapping.draft_body(draft, create=False)
        body.pop("recurrence", None)  # an instance cannot carry a rule
        response = self._graph.request(
            "PATCH",
            f"{self._prefix}/events/{segment(str(raw['id']))}",
            json=body,
            headers={"Prefer": UTC_PREFER},
        )
        return mapping.written(response.json())

    def cancel_occurrence(self, series_id: str, original_start: datetime) -> None:
        """``DELETE`` one occurrence (it leaves the series); already gone is done."""
        try:
            raw = self._occurrence(series_id, original_start)
        except ProviderNotFound:
            return
        if raw is not None:
            self.delete_event(str(raw["id"]))

    # --- sync ------------------------------------------------------------------------------

    def changes(
        self, cursor: str | None, window_start: datetime, window_end: datetime, page_size: int = 100
    ) -> ChangePage:
        """One ``calendarView/delta`` page (https://learn.microsoft.com/graph/delta-query-events).

        ``cursor`` is the previous page's nextLink (round in progress) or deltaLink (next round);
        the window is only sent when starting (it is encoded in the tokens). A 410 raises
        ``CursorExpired``.
        """
        headers = {"Prefer": f"odata.maxpagesize={page_size}, {UTC_PREFER}"}
        if cursor is None:
            params = {
                "startDateTime": mapping.iso_z(window_start),
                "endDateTime": mapping.iso_z(window_end),
            }
            body = self._graph.get_json(
                f"{self._prefix}/calendarView/delta", params=params, headers=headers
            )
        else:
            body = self._graph.get_json(cursor, headers=headers)
        changes = []
        for raw in body.get("value", []):
            item = mapping.change(raw)
            if mapping.needs_app_ref_lookup(raw):
                item = dataclasses.replace(item, app_ref=self._app_ref_of(item.id))
            changes.append(item)
        next_link = body.get("@odata.nextLink")
        if next_link:
            return ChangePage(changes=changes, cursor=str(next_link), complete=False)
        return ChangePage(changes=changes, cursor=str(body["@odata.deltaLink"]), complete=True)

    def _app_ref_of(self, event_id: str) -> str | None:
        event = self.get_event(event_id)
        return event.app_ref if event is not None else None

    # --- push ------------------------------------------------------------------------------

    def subscribe(
        self,
        *,
        notification_url: str,
        client_state: str,
        expires_at: datetime,
        lifecycle_url: str | None = None,
        channel_id: str | None = None,
    ) -> Subscription:
        """``POST /subscriptions`` on this mailbox's events; Graph validates the URL(s) first
        (``validationToken`` handshake) and answers only then. ``channel_id`` is Google's."""
        del channel_id
        body: dict[str, Any] = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": f"{self._prefix}/events",
            "expirationDateTime": mapping.iso_z(expires_at),
            "clientState": client_state,
            "latestSupportedTlsVersion": "v1_2",
        }
        if lifecycle_url:
            body["lifecycleNotificationUrl"] = lifecycle_url
        raw = self._graph.request("POST", "subscriptions", json=body).json()
        return mapping.subscription(raw)

    def renew(self, subscription: Subscription, expires_at: datetime) -> Subscription:
        """``PATCH /subscriptions/{id}`` with a new expiry; ``ProviderNotFound`` if it is gone
        (the caller creates a new one)."""
        raw = self._graph.request(
            "PATCH",
            f"subscriptions/{segment(subscription.id)}",
            json={"expirationDateTime": mapping.iso_z(expires_at)},
        ).json()
        renewed = mapping.subscription(raw)
        return dataclasses.replace(subscription, expires_at=renewed.expires_at)

    def unsubscribe(self, subscription: Subscription) -> None:
        """``DELETE /subscriptions/{id}``; already gone is done."""
        try:
            self._graph.request("DELETE", f"subscriptions/{segment(subscription.id)}")
        except ProviderNotFound:
            return

    # --- rooms -----------------------------------------------------------------------------

    def rooms(self) -> list[RoomInfo]:
        """``GET /places/microsoft.graph.room`` (application ``Place.Read.All``: build this
        client with an app-only token source); every page."""
        url: str | None = "places/microsoft.graph.room"
        query: dict[str, str] | None = {"$top": str(ROOM_PAGE)}
        out: list[RoomInfo] = []
        while url is not None:
            body = self._graph.get_json(url, params=query)
            out.extend(mapping.room(raw) for raw in body.get("value", []))
            url, query = body.get("@odata.nextLink"), None
        return out


def _is_etag(value: str) -> bool:
    """Whether ``value`` is an entity tag (``"..."`` or ``W/"..."``, RFC 9110 section 8.8.3)."""
    opaque = value[2:] if value.startswith("W/") else value
    return len(opaque) >= 2 and opaque.startswith('"') and opaque.endswith('"')


if TYPE_CHECKING:  # mypy proves the class satisfies the protocol the core programs against.

    def _conforms(settings: Settings, tokens: TokenSource) -> CalendarClient:
        return GraphCalendarClient(settings, tokens)
