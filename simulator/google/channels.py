"""Push notification channels (events.watch, channels.stop) and their delivery.

Per the push guide (https://developers.google.com/workspace/calendar/api/guides/push):

- a new channel first receives a ``sync`` message; afterwards every change to the watched
  collection sends ``exists``; ``not_exists`` is sent when the watched resource itself goes away
  (here: the calendar is deleted through the control API);
- each message is an empty POST with ``X-Goog-Channel-ID``, ``X-Goog-Channel-Token`` (only if the
  channel has one), ``X-Goog-Channel-Expiration`` (RFC 1123 date), ``X-Goog-Resource-ID``,
  ``X-Goog-Resource-URI``, ``X-Goog-Resource-State`` and ``X-Goog-Message-Number`` (increasing
  per channel);
- Google retries with exponential backoff when the receiver answers 500, 502, 503 or 504.

Channels expire on the simulated clock (:meth:`World.timestamp`). Delivery runs in one daemon
thread per world, in order; every attempt lands in :attr:`ChannelState.log` for tests.
The receiver's TLS certificate is not verified (loopback test receivers use throwaway certs).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx

from simulator.google import store
from simulator.world import World

DEFAULT_TTL_SECONDS = 604800  # one week
MAX_TTL_SECONDS = 2592000
RETRY_STATUSES = (500, 502, 503, 504)
RETRY_DELAYS = (0.2, 0.5)


@dataclass
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    address: str
    token: str | None
    expiration_ms: int
    owner_email: str
    message_number: int = 0


@dataclass
class ChannelState:
    channels: dict[str, Channel] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    outbox: queue.Queue[tuple[str, dict[str, str]] | None] = field(default_factory=queue.Queue)
    worker: threading.Thread | None = None
    pending: int = 0


def channels(world: World) -> ChannelState:
    """The world's channels, created on first use (with its change listener registered)."""

    def create() -> ChannelState:
        state = ChannelState()
        store.store(world).listeners.append(lambda cal_id, st: _changed(world, cal_id, st))
        return state

    return world.area("google.channels", create)


def resource_id_for(calendar_id: str) -> str:
    # Stable per watched collection, opaque to clients.
    return uuid.uuid5(uuid.NAMESPACE_URL, f"calendar-events:{calendar_id}").hex[:27]


def open_channel(
    world: World, calendar_id: str, owner_email: str, body: dict[str, Any]
) -> dict[str, Any]:
    """events.watch: create the channel, queue its ``sync`` message, return the resource."""
    state = channels(world)
    channel_id = str(body.get("id", ""))
    if not channel_id:
        raise store.EventError(400, "required", "Required", location="id")
    if str(body.get("type", "")).lower() not in ("web_hook", "webhook"):
        raise store.EventError(400, "invalid", "Invalid value for type", location="type")
    address = str(body.get("address", ""))
    if not address.startswith(("https://", "http://")):
        raise store.EventError(
            400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: " + address
        )
    if channel_id in state.channels:
        raise store.EventError(400, "channelIdNotUnique", "Channel id not unique")
    now_ms = int(world.timestamp() * 1000)
    ttl = int(body.get("params", {}).get("ttl", DEFAULT_TTL_SECONDS))
    expiration = now_ms + min(ttl, MAX_TTL_SECONDS) * 1000
    if body.get("expiration"):
        expiration = min(expiration, int(body["expiration"]))
    cal = store.calendar(world, calendar_id)
    channel = Channel(
        id=channel_id,
        resource_id=resource_id_for(cal.id),
        resource_uri=f"{world.base_url}/google/calendar/v3/calendars/{cal.id}/events?alt=json",
        calendar_id=cal.id,
        address=address,
        token=body.get("token"),
        expiration_ms=expiration,
        owner_email=owner_email,
    )
    state.channels[channel_id] = channel
    _enqueue(world, channel, "sync")
    resource: dict[str, Any] = {
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": channel.resource_uri,
        "expiration": str(channel.expiration_ms),
    }
    if channel.token is not None:
        resource["token"] = channel.token
    return resource


def stop_channel(world: World, body: dict[str, Any]) -> None:
    """channels.stop: 404 unless both ``id`` and ``resourceId`` name a live channel."""
    state = channels(world)
    channel = state.channels.get(str(body.get("id", "")))
    if channel is None or channel.resource_id != body.get("resourceId"):
        raise store.EventError(404, "notFound", f"Channel '{body.get('id')}' not found")
    del state.channels[channel.id]


def _changed(world: World, calendar_id: str, resource_state: str) -> None:
    state = channels(world)
    now_ms = world.timestamp() * 1000
    for channel in list(state.channels.values()):
        if channel.calendar_id != calendar_id:
            continue
        if channel.expiration_ms <= now_ms:
            del state.channels[channel.id]  # expired channels stop silently, as Google's do
            continue
        _enqueue(world, channel, resource_state)
        if resource_state == "not_exists":
            del state.channels[channel.id]


def _enqueue(world: World, channel: Channel, resource_state: str) -> None:
    state = channels(world)
    channel.message_number += 1
    headers = {
        # The push guide's example message carries this content type with an empty body.
        "Content-Type": "application/json; utf-8",
        "X-Goog-Channel-ID": channel.id,
        "X-Goog-Channel-Expiration": formatdate(channel.expiration_ms / 1000, usegmt=True),
        "X-Goog-Resource-ID": channel.resource_id,
        "X-Goog-Resource-URI": channel.resource_uri,
        "X-Goog-Resource-State": resource_state,
        "X-Goog-Message-Number": str(channel.message_number),
    }
    if channel.token is not None:
        headers["X-Goog-Channel-Token"] = channel.token
    state.pending += 1
    state.outbox.put((channel.address, headers))
    if state.worker is None or not state.worker.is_alive():
        state.worker = threading.Thread(
            target=_deliver_forever, args=(world, state), daemon=True, name="google-push"
        )
        state.worker.start()


def _deliver_forever(world: World, state: ChannelState) -> None:
    with httpx.Client(verify=False, timeout=5.0) as http:
        while True:
            item = state.outbox.get()
            if item is None:
                return
            address, headers = item
            entry: dict[str, Any] = {"address": address, "headers": headers, "attempts": 0}
            for delay in (0.0, *RETRY_DELAYS):
                time.sleep(delay)
                entry["attempts"] += 1
                try:
                    status = http.post(address, headers=headers, content=b"").status_code
                    entry["status"] = status
                    entry.pop("error", None)
                except httpx.HTTPError as exc:
                    entry["status"] = None
                    entry["error"] = f"{type(exc).__name__}: {exc}"
                    continue
                if status not in RETRY_STATUSES:
                    break
            with world.lock:
                state.log.append(entry)
                state.pending -= 1


def delivery_log(world: World) -> dict[str, Any]:
    """Every delivery so far and how many are still queued or in flight."""
    state = channels(world)
    with world.lock:
        return {"deliveries": list(state.log), "pending": state.pending}


def list_channels(world: World) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "resourceId": c.resource_id,
            "calendarId": c.calendar_id,
            "address": c.address,
            "expiration": str(c.expiration_ms),
            "messageNumber": c.message_number,
        }
        for c in channels(world).channels.values()
    ]
