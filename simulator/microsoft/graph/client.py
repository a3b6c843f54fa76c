"""``GraphControl``: the Graph part of the simulator's control API, for tests and demos.

``SimulatorClient.graph`` is ``GraphControl(http)`` where ``http`` is an ``httpx.Client`` whose
``base_url`` is the simulator (``https://127.0.0.1:<port>``). ``user`` arguments are an id, a UPN
or a mail address; events are Graph JSON (``start``/``end`` as ``{"dateTime", "timeZone"}``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

PREFIX = "/_sim/graph"


def _dtz(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).replace(tzinfo=None).isoformat(), "timeZone": "UTC"}


class GraphControl:
    """Act as people in Outlook and inspect Graph's state (no tokens involved)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, PREFIX + path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    @staticmethod
    def _box(user: str) -> str:
        return f"/mailboxes/{quote(user, safe='@')}"

    # -- a person in Outlook -------------------------------------------------------------------
    def events(self, user: str) -> list[dict[str, Any]]:
        """Every live event of the mailbox, times in UTC, sorted by start."""
        return self._call("GET", self._box(user) + "/events")["value"]  # type: ignore[no-any-return]

    def create_event(self, user: str, event: dict[str, Any]) -> dict[str, Any]:
        """The person creates ``event`` in their calendar (attendees and rooms get it)."""
        return self._call("POST", self._box(user) + "/events", json=event)  # type: ignore[no-any-return]

    def update_event(self, user: str, event_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"{self._box(user)}/events/{event_id}", json=patch)  # type: ignore[no-any-return]

    def move_event(
        self, user: str, event_id: str, start: datetime, end: datetime
    ) -> dict[str, Any]:
        """Drag the event to ``start``-``end`` (aware datetimes)."""
        return self.update_event(user, event_id, {"start": _dtz(start), "end": _dtz(end)})

    def delete_event(self, user: str, event_id: str) -> None:
        self._call("DELETE", f"{self._box(user)}/events/{event_id}")

    def respond(self, user: str, event_id: str, response: str) -> None:
        """Answer a meeting as attendee ``user`` (``event_id`` is the attendee's copy)."""
        self._call(
            "POST", f"{self._box(user)}/events/{event_id}/respond", json={"response": response}
        )

    def decline(self, user: str, event_id: str) -> None:
        self.respond(user, event_id, "declined")

    def invalidate_delta(self, user: str) -> int:
        """Make every delta/skip token of the mailbox answer 410 ``SyncStateNotFound``."""
        return int(self._call("POST", self._box(user) + "/invalidate-delta")["invalidated"])

    # -- subscriptions and notifications -------------------------------------------------------
    def subscriptions(self) -> list[dict[str, Any]]:
        return self._call("GET", "/subscriptions")["value"]  # type: ignore[no-any-return]

    def trigger_lifecycle(self, subscription_id: str, event: str) -> None:
        """Send ``reauthorizationRequired``, ``missed`` or ``subscriptionRemoved`` (removes it)."""
        self._call("POST", f"/subscriptions/{subscription_id}/lifecycle", json={"event": event})

    def deliveries(
        self, subscription_id: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """The delivery log: ``kind`` is ``change``, ``lifecycle`` or ``validation``."""
        params = {k: v for k, v in (("subscriptionId", subscription_id), ("kind", kind)) if v}
        return self._call("GET", "/deliveries", params=params)["value"]  # type: ignore[no-any-return]

    def wait_for_deliveries(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool],
        *,
        subscription_id: str | None = None,
        kind: str | None = None,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Poll the delivery log until ``predicate`` holds (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.deliveries(subscription_id, kind)
            if predicate(log):
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"deliveries did not reach the expected state: {log}")
            time.sleep(0.05)

    # -- knobs -------------------------------------------------------------------------------
    def settings(self, **changes: Any) -> dict[str, Any]:
        """Read, or change and read, the Graph settings (see ``state.Settings``)."""
        if changes:
            return self._call("PUT", "/settings", json=changes)  # type: ignore[no-any-return]
        return self._call("GET", "/settings")  # type: ignore[no-any-return]

    def set_duplicate_rate(self, rate: float) -> None:
        self.settings(duplicate_rate=rate)

    def set_room_policy(self, room: str, policy: str) -> None:
        """``accept``, ``decline_when_busy`` or ``never_answer``."""
        self._call("PUT", f"/rooms/{quote(room, safe='@')}/policy", json={"policy": policy})
