"""``GoogleCalendarClient``: one calendar through google-api-python-client (Calendar v3).

The client library is used as Google ships it: static discovery documents (no discovery
request), ``client_options.api_endpoint`` from settings (``GOOGLE_CALENDAR_URL`` including
``calendar/v3/``; ``GOOGLE_ADMIN_URL`` for the Admin SDK, whose paths start with ``admin/``),
an explicit ``httplib2.Http`` trusting ``PROVIDER_CA_BUNDLE``, wrapped in ``AuthorizedHttp``
whose token comes from our :class:`~shared.providers.base.TokenSource` (a 401 refreshes once).
Errors and short retries: :mod:`.errors`.

Not thread-safe (httplib2 connections are not): use one client per thread or task.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.errors import ConfigurationError, CursorExpired, ProviderError, ProviderNotFound
from shared.providers.base import (
    Change,
    ChangePage,
    EventDraft,
    EventView,
    Profile,
    RoomInfo,
    Subscription,
    TokenSource,
    WrittenEvent,
)
from shared.providers.google import errors, mapping
from shared.providers.google.directory import list_rooms
from shared.providers.google.transport import authorized_http
from shared.providers.retry import RetryPolicy
from shared.providers.urls import checked
from shared.settings import Settings

MAX_PAGE = 2500  # events.list maxResults ceiling
MAX_CHANNEL_TTL_SECONDS = 2592000  # Google caps event channels at 30 days


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def userinfo_url(settings: Settings) -> str:
    """The OpenID userinfo endpoint next to the Calendar API (``.../oauth2/v3/userinfo`` on
    www.googleapis.com, https://developers.google.com/identity/openid-connect/openid-connect)."""
    base = settings.google_calendar_url.rstrip("/")
    if not base.endswith("/calendar/v3"):
        raise ConfigurationError("GOOGLE_CALENDAR_URL", "must end with /calendar/v3/")
    return base[: -len("calendar/v3")] + "oauth2/v3/userinfo"


class GoogleCalendarClient:
    """:class:`shared.providers.base.CalendarClient` for one Google calendar.

    Args:
        settings: the service settings (URLs, CA bundle).
        tokens: bearer tokens for the calendar's owner (delegated, or a domain-wide-delegation
            service account); also used for the Admin SDK in :meth:`rooms`.
        calendar_id: ``primary`` (the token owner's calendar) or an email address.
        retry: the in-call retry policy for transient failures.
        sleep: how retries wait (tests may pass a no-op).
    """

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        *,
        calendar_id: str = "primary",
        retry: RetryPolicy = errors.DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self.calendar_id = checked(calendar_id)
        self._retry = retry
        self._sleep = sleep
        self._http: Any = None
        self._calendar: Any = None
        self._directory: Any = None
        self._zone: str | None = None

    # --- plumbing ------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the kept-alive connections (the client can be used again afterwards)."""
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> GoogleCalendarClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _authorized(self) -> Any:
        if self._http is None:
            self._http = authorized_http(self._settings, self._tokens)
        return self._http

    def _build(self, name: str, version: str, endpoint: str) -> Any:
        # googleapiclient is heavy to import: only when the first call is made.
        from googleapiclient.discovery import build

        return build(
            name,
            version,
            http=self._authorized(),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": endpoint},
        )

    def _events(self) -> Any:
        if self._calendar is None:
            self._calendar = self._build("calendar", "v3", self._settings.google_calendar_url)
        return self._calendar.events()

    def _channels(self) -> Any:
        self._events()
        return self._calendar.channels()

    def _run(self, request: Any) -> Any:
        return errors.execute(request, policy=self._retry, sleep=self._sleep)

    def _note_zone(self, page: dict[str, Any]) -> str | None:
        # events.list answers with the calendar's time zone; all-day dates are read in it.
        if page.get("timeZone"):
            self._zone = str(page["timeZone"])
        return self._zone

    def _calendar_zone(self, event: dict[str, Any]) -> str | None:
        """The calendar's zone, fetched (calendars.get, once per client) only when ``event`` is
        an all-day event without a zone of its own."""
        own_zone = (event.get("start") or {}).get("timeZone")
        if self._zone is None and mapping.is_all_day(event) and not own_zone:
            self._events()
            found = self._run(self._calendar.calendars().get(calendarId=self.calendar_id))
            self._zone = str(found.get("timeZone") or "UTC")
        return self._zone

    # --- reads ---------------------------------------------------------------------------------
    def profile(self) -> Profile:
        """The token owner from the OpenID userinfo endpoint (needs ``openid email``, which
        :class:`~shared.providers.google.auth.GoogleDelegatedAuth` always requests)."""
        from googleapiclient.http import HttpRequest
        from googleapiclient.model import JsonModel

        request = HttpRequest(
            self._authorized(), JsonModel(data_wrapper=False).response, userinfo_url(self._settings)
        )
        info = self._run(request)
        return Profile(
            user_id=str(info.get("sub", "")),
            account=str(info.get("email", "")).lower(),
            display_name=str(info.get("name", "")),
        )

    def events_between(self, start: datetime, end: datetime, limit: int = 50) -> list[EventView]:
        """Occurrences overlapping [start, end), expanded and ordered by start."""
        page = self._run(
            self._events().list(
                calendarId=self.calendar_id,
                timeMin=_rfc3339(start),
                timeMax=_rfc3339(end),
                singleEvents=True,
                orderBy="startTime",
                maxResults=max(1, min(limit, MAX_PAGE)),
            )
        )
        zone = self._note_zone(page)
        return [mapping.to_view(item, zone) for item in page.get("items", [])][:limit]

    def get_event(self, event_id: str) -> EventView | None:
        try:
            event = self._run(
                self._events().get(calendarId=self.calendar_id, eventId=checked(event_id))
            )
        except ProviderNotFound:
            return None
        # events.get still returns deleted events, as status "cancelled".
        if event.get("status") == "cancelled":
            return None
        return mapping.to_view(event, self._calendar_zone(event))

    # --- writes --------------------------------------------------------------------------------
    def create_event(self, draft: EventDraft) -> WrittenEvent:
        """events.insert with the id derived from ``draft.key``; a 409 ``duplicate`` means an
        earlier attempt succeeded, so that event is returned (restored if it was deleted since,
        because Google keeps deleted ids reserved and restores an event on update)."""
        body = mapping.insert_body(draft)
        try:
            created = self._run(
                self._events().insert(calendarId=self.calendar_id, body=body, sendUpdates="all")
            )
            return mapping.to_written(created)
        except ProviderError as exc:
            if exc.provider_code != "duplicate":
                raise
        existing = self._run(self._events().get(calendarId=self.calendar_id, eventId=body["id"]))
        if existing.get("status") != "cancelled":
            return mapping.to_written(existing)
        restored = self._run(
            self._events().update(
                calendarId=self.calendar_id,
                eventId=body["id"],
                body={**mapping.draft_body(draft), "status": "confirmed"},
                sendUpdates="all",
            )
        )
        return mapping.to_written(restored)

    def update_event(
        self, event_id: str, draft: EventDraft, *, if_match: str | None = None
    ) -> WrittenEvent:
        """events.patch of our fields; ``If-Match`` makes a stale etag a 412
        (``PreconditionFailed``).

        Google keeps deleted events (``status: cancelled``) and a patch would bring one back, so
        without ``if_match`` the event is read first: deleted counts as gone (``ProviderNotFound``)
        and its etag guards the patch against a concurrent delete.
        """
        if if_match is None:
            current = self._run(
                self._events().get(calendarId=self.calendar_id, eventId=checked(event_id))
            )
            if current.get("status") == "cancelled":
                raise ProviderNotFound(
                    "the event was deleted in Google Calendar",
                    provider=errors.PROVIDER,
                    provider_code="deleted",
                )
            if_match = str(current["etag"])
        request = self._events().patch(
            calendarId=self.calendar_id,
            eventId=checked(event_id),
            body=mapping.draft_body(draft),
            sendUpdates="all",
        )
        request.headers["If-Match"] = if_match
        return mapping.to_written(self._run(request))

    def delete_event(self, event_id: str) -> None:
        """events.delete (attendees are told); 404 or 410 ``deleted`` count as done."""
        try:
            self._run(
                self._events().delete(
                    calendarId=self.calendar_id, eventId=checked(event_id), sendUpdates="all"
                )
            )
        except ProviderNotFound:
            return

    def _instance(self, series_id: str, original_start: datetime) -> dict[str, Any] | None:
        """The instance of ``series_id`` with that original start (events.instances'
        ``originalStart`` parameter), cancelled ones included."""
        page = self._run(
            self._events().instances(
                calendarId=self.calendar_id,
                eventId=series_id,
                originalStart=_rfc3339(original_start),
                showDeleted=True,
            )
        )
        items = page.get("items", [])
        return dict(items[0]) if items else None

    def update_occurrence(
        self, series_id: str, original_start: datetime, draft: EventDraft
    ) -> WrittenEvent:
        """events.patch of one instance: Google keeps it as an exception of the series."""
        found = self._instance(series_id, original_start)
        if found is None or found.get("status") == "cancelled":
            raise ProviderNotFound(
                "no such occurrence of the series",
                provider=errors.PROVIDER,
                provider_code="deleted",
            )
        body = mapping.draft_body(draft)
        body.pop("recurrence", None)  # an instance cannot carry a rule
        request = self._events().patch(
            calendarId=self.calendar_id, eventId=str(found["id"]), body=body, sendUpdates="all"
        )
        request.headers["If-Match"] = str(found["etag"])
        return mapping.to_written(self._run(request))

    def cancel_occurrence(self, series_id: str, original_start: datetime) -> None:
        """events.delete of one instance (it stays as a cancelled instance); gone is done."""
        try:
            found = self._instance(series_id, original_start)
        except ProviderNotFound:
            return
        if found is not None and found.get("status") != "cancelled":
            self.delete_event(str(found["id"]))

    # --- incremental sync ----------------------------------------------------------------------
    def changes(
        self, cursor: str | None, window_start: datetime, window_end: datetime, page_size: int = 100
    ) -> ChangePage:
        """One page of the Calendar sync protocol
        (https://developers.google.com/workspace/calendar/api/guides/sync).

        Cursors are self-describing: ``window|<timeMin>|<timeMax>|<pageToken>`` while the initial
        full listing of the window pages, ``changes|<syncToken>`` (and
        ``changes|<syncToken>|<pageToken>`` while an incremental round pages). Cursors of the
        former ``full|``/``sync|`` format (listings with ``singleEvents=true``, whose sync tokens
        must not be reused with other parameters) are unrecognised: a full listing follows. A
        sync token cannot be combined with timeMin/timeMax, so
        incremental rounds report changes outside the window too. Deleted events arrive as
        ``Change(removed=True)``. 410 ``fullSyncRequired`` raises ``CursorExpired``.

        Recurring events are listed as themselves (``singleEvents`` off), never expanded by the
        listing: an incremental round with ``singleEvents=true`` would bring back every instance
        of a changed series, however long it runs (no timeMin/timeMax with a sync token). Each
        recurring event on the page is expanded with events.instances bounded by the window
        instead: one change per instance, then the series' own change listing the instances
        (``Change.instances``), so instances that no longer exist are dropped. Changed and
        cancelled instances also come as items of their own (``recurringEventId``).
        """
        params: dict[str, Any] = {
            "calendarId": self.calendar_id,
            "showDeleted": True,
            "maxResults": max(1, min(page_size, MAX_PAGE)),
        }
        kind, parts = _parse_cursor(cursor)
        if kind == "window":
            time_min, time_max = (
                (parts[0], parts[1]) if parts else (_rfc3339(window_start), _rfc3339(window_end))
            )
            params.update(timeMin=time_min, timeMax=time_max)
            if len(parts) > 2:
                params["pageToken"] = parts[2]
        else:
            params["syncToken"] = parts[0]
            if len(parts) > 1:
                params["pageToken"] = parts[1]
        page = self._run(self._events().list(**params))
        zone = self._note_zone(page)
        found: list[Change] = []
        for item in page.get("items", []):
            if mapping.is_series(item):
                found += self._series(item, window_start, window_end, zone)
            else:
                found.append(mapping.to_change(item, zone))
        next_page = page.get("nextPageToken")
        if next_page:
            head = (
                f"window|{params['timeMin']}|{params['timeMax']}"
                if kind == "window"
                else f"changes|{params['syncToken']}"
            )
            return ChangePage(changes=found, cursor=f"{head}|{next_page}", complete=False)
        sync_token = page.get("nextSyncToken")
        if not sync_token:
            raise CursorExpired(
                "Google ended the listing without a sync token", provider=errors.PROVIDER
            )
        return ChangePage(changes=found, cursor=f"changes|{sync_token}", complete=True)

    def _series(
        self, item: dict[str, Any], start: datetime, end: datetime, zone: str | None
    ) -> list[Change]:
        """A recurring event as its instances inside ``[start, end)`` plus its own change."""
        series_id = str(item["id"])
        if item.get("status") == "cancelled":
            return [
                Change(
                    id=series_id,
                    removed=True,
                    is_cancelled=True,
                    change_key=str(item.get("etag", "")),
                    app_ref=mapping.app_ref(item),
                    instances=(),
                )
            ]
        out: list[Change] = []
        token: str | None = None
        while True:
            request = self._events().instances(
                calendarId=self.calendar_id,
                eventId=series_id,
                timeMin=_rfc3339(start),
                timeMax=_rfc3339(end),
                maxResults=MAX_PAGE,
                **({"pageToken": token} if token else {}),
            )
            try:
                page = self._run(request)
            except ProviderNotFound:
                return [Change(id=series_id, removed=True, instances=())]
            zone = self._note_zone(page) or zone
            out += [mapping.to_change(i, zone) for i in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                break
        out.append(
            Change(
                id=series_id,
                change_key=str(item.get("etag", "")),
                app_ref=mapping.app_ref(item),
                show_as=mapping.show_as(item),
                instances=tuple(c.id for c in out if not c.removed),
            )
        )
        return out

    # --- push ----------------------------------------------------------------------------------
    def subscribe(
        self,
        *,
        notification_url: str,
        client_state: str,
        expires_at: datetime,
        lifecycle_url: str | None = None,
        channel_id: str | None = None,
    ) -> Subscription:
        """events.watch (https://developers.google.com/workspace/calendar/api/guides/push).

        ``client_state`` becomes the channel token (echoed as ``X-Goog-Channel-Token``). The
        lifetime is sent as ``params.ttl`` (relative, so our clock and Google's need not agree);
        the returned ``expires_at`` is Google's. ``lifecycle_url`` has no Google equivalent.
        """
        ttl = int((expires_at - datetime.now(UTC)).total_seconds())
        body = {
            "id": channel_id or uuid.uuid4().hex,
            "type": "web_hook",
            "address": notification_url,
            "token": client_state,
            "params": {"ttl": str(max(1, min(ttl, MAX_CHANNEL_TTL_SECONDS)))},
        }
        channel = self._run(self._events().watch(calendarId=self.calendar_id, body=body))
        return Subscription(
            id=str(channel["id"]),
            expires_at=datetime.fromtimestamp(int(channel["expiration"]) / 1000, UTC),
            resource=str(channel.get("resourceUri", f"calendars/{self.calendar_id}/events")),
            resource_id=str(channel["resourceId"]),
            notification_url=notification_url,
            client_state=client_state,
        )

    def renew(self, subscription: Subscription, expires_at: datetime) -> Subscription:
        """Google channels cannot be extended: open a new channel (new id, same address and
        token), then stop the old one. Needs ``notification_url`` and ``client_state`` on
        ``subscription``."""
        if not subscription.notification_url or not subscription.client_state:
            raise ValueError(
                "renewing a Google channel needs its notification_url and client_state"
            )
        fresh = self.subscribe(
            notification_url=subscription.notification_url,
            client_state=subscription.client_state,
            expires_at=expires_at,
        )
        self.unsubscribe(subscription)
        return fresh

    def unsubscribe(self, subscription: Subscription) -> None:
        """channels.stop; a channel already gone (404) counts as done."""
        try:
            self._run(
                self._channels().stop(
                    body={"id": subscription.id, "resourceId": subscription.resource_id}
                )
            )
        except ProviderNotFound:
            return

    # --- rooms ---------------------------------------------------------------------------------
    def rooms(self) -> list[RoomInfo]:
        """Calendar resources of the Workspace customer (Admin SDK); ``ProviderDenied`` when
        the caller is not an administrator or lacks the resource scope."""
        if self._directory is None:
            self._directory = self._build("admin", "directory_v1", self._settings.google_admin_url)
        return list_rooms(self._directory, self._run)


def _parse_cursor(cursor: str | None) -> tuple[str, list[str]]:
    if cursor is None:
        return "window", []
    kind, _, rest = cursor.partition("|")
    parts = rest.split("|") if rest else []
    if kind == "window" and len(parts) == 3 and all(parts):
        return kind, parts
    if kind == "changes" and 1 <= len(parts) <= 2 and all(parts):
        return kind, parts
    # A cursor we did not write (or from an older format): start over, as for an expired one.
    raise CursorExpired("unrecognised Google sync cursor", provider=errors.PROVIDER)
