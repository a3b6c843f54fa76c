"""``/subscriptions``: create (after the validation handshake), list, get, renew, delete.

Contract: https://learn.microsoft.com/graph/api/subscription-post-subscriptions and
https://learn.microsoft.com/graph/api/resources/subscription. Supported resources are a mailbox's
events: ``/me/events``, ``/users/{id|upn}/events``, ``/me/calendar/events`` and
``/users/{id|upn}/calendar/events``, with ``changeType`` a comma-separated subset of
``created,updated,deleted``. The expiration may be at most ``Settings.max_subscription_minutes``
(4230) ahead of the simulated clock; beyond that Graph answers 400 ``ExtensionError``
"Subscription expiration can only be 4230 minutes in the future.". Graph requires https
notification URLs; this simulator also accepts ``http://127.0.0.1``/``localhost`` for local dev.
Subscriptions expire on the simulated clock (:meth:`World.now`): an expired one no longer
delivers and is no longer listed.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.microsoft.graph import dispatch
from simulator.microsoft.graph.auth import Caller, caller, mailbox_owner
from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.http import BASE, endpoint, json_body, ok, root
from simulator.microsoft.graph.state import Subscription, graph_state
from simulator.microsoft.graph.times import iso_utc, parse_local, zone
from simulator.world import World

_RESOURCE = re.compile(r"^/?(?:me|users/(?P<user>[^/]+))(?:/calendar)?/events/?$", re.I)
CHANGE_TYPES = {"created", "updated", "deleted"}


def subscription_json(world: World, sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sub.app_id,
        "changeType": ",".join(sub.change_types),
        "clientState": sub.client_state,
        "notificationUrl": sub.notification_url,
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": sub.lifecycle_url,
        "expirationDateTime": iso_utc(sub.expiration),
        "creatorId": sub.creator_id,
        "includeResourceData": None,
        "latestSupportedTlsVersion": sub.tls,
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
    }


def _invalid(message: str) -> GraphError:
    return GraphError(400, "InvalidRequest", message)


def _expiration(world: World, value: Any) -> datetime:
    if not value:
        raise _invalid("expirationDateTime is a required property for subscription creation.")
    moment = parse_local(str(value), zone("UTC"))
    now = world.now()
    limit = graph_state(world).settings.max_subscription_minutes
    if moment <= now:
        raise _invalid("Subscription expiration must be in the future.")
    if moment > now + timedelta(minutes=limit):
        raise GraphError(
            400,
            "ExtensionError",
            f"Subscription expiration can only be {limit} minutes in the future.",
        )
    return moment


def _mine(world: World, who: Caller, sub_id: str) -> Subscription:
    sub = graph_state(world).subscriptions.get(sub_id)
    if (
        sub is None
        or sub.tenant_id != who.tenant.id
        or sub.app_id != who.app_id
        or sub.expiration <= world.now()
        or (who.user_id is not None and sub.creator_id != who.user_id)
    ):
        raise GraphError(404, "ResourceNotFound", "The object was not found.")
    return sub


async def create(world: World, request: Request) -> Response:
    who = caller(world, request)
    body = await json_body(request)
    resource = str(body.get("resource") or "")
    match = _RESOURCE.match(resource)
    if match is None:
        raise _invalid(f"Resource '{resource}' is not supported for subscriptions.")
    change_types = [c.strip() for c in str(body.get("changeType") or "").split(",") if c.strip()]
    if not change_types or not set(change_types) <= CHANGE_TYPES:
        raise _invalid(f"Invalid 'changeType' attribute: '{body.get('changeType')}'.")
    notification_url = str(body.get("notificationUrl") or "")
    if not notification_url:
        raise _invalid("notificationUrl is a required property for subscription creation.")
    dispatch.check_notification_url(notification_url, "notificationUrl")
    lifecycle_url = body.get("lifecycleNotificationUrl")
    if lifecycle_url:
        dispatch.check_notification_url(str(lifecycle_url), "lifecycleNotificationUrl")
    with world.lock:
        owner = mailbox_owner(who, match.group("user") or "me")
        expiration = _expiration(world, body.get("expirationDateTime"))
    sub = Subscription(
        id=str(uuid.uuid4()),
        tenant_id=who.tenant.id,
        app_id=who.app_id,
        creator_id=who.user_id or who.app_id,
        mailbox_id=owner.id,
        resource=resource,
        change_types=change_types,
        notification_url=notification_url,
        lifecycle_url=str(lifecycle_url) if lifecycle_url else None,
        client_state=body.get("clientState"),
        expiration=expiration,
        tls=str(body.get("latestSupportedTlsVersion") or "v1_2"),
    )
    # Both endpoints must pass the handshake before the subscription exists.
    await dispatch.validate(world, sub.id, notification_url)
    if sub.lifecycle_url and sub.lifecycle_url != notification_url:
        await dispatch.validate(world, sub.id, sub.lifecycle_url)
    with world.lock:
        graph_state(world).subscriptions[sub.id] = sub
        out = subscription_json(world, sub)
    return ok(
        {"@odata.context": f"{root(world)}/$metadata#subscriptions/$entity", **out}, status=201
    )


async def list_all(world: World, request: Request) -> Response:
    who = caller(world, request)
    with world.lock:
        now = world.now()
        subs = [
            s
            for s in graph_state(world).subscriptions.values()
            if s.tenant_id == who.tenant.id
            and s.app_id == who.app_id
            and s.expiration > now
            and (who.user_id is None or s.creator_id == who.user_id)
        ]
        value = [subscription_json(world, s) for s in subs]
    return ok({"@odata.context": f"{root(world)}/$metadata#subscriptions", "value": value})


async def get_one(world: World, request: Request) -> Response:
    who = caller(world, request)
    with world.lock:
        out = subscription_json(world, _mine(world, who, request.path_params["sub_id"]))
    return ok({"@odata.context": f"{root(world)}/$metadata#subscriptions/$entity", **out})


async def renew(world: World, request: Request) -> Response:
    who = caller(world, request)
    body = await json_body(request)
    with world.lock:
        sub = _mine(world, who, request.path_params["sub_id"])
    new_url = body.get("notificationUrl")
    if new_url and new_url != sub.notification_url:
        dispatch.check_notification_url(str(new_url), "notificationUrl")
        await dispatch.validate(world, sub.id, str(new_url))
    with world.lock:
        if "expirationDateTime" in body:
            sub.expiration = _expiration(world, body["expirationDateTime"])
        if new_url:
            sub.notification_url = str(new_url)
        out = subscription_json(world, sub)
    return ok({"@odata.context": f"{root(world)}/$metadata#subscriptions/$entity", **out})


async def delete(world: World, request: Request) -> Response:
    who = caller(world, request)
    with world.lock:
        sub = _mine(world, who, request.path_params["sub_id"])
        del graph_state(world).subscriptions[sub.id]
    return Response(status_code=204)


async def reauthorize(world: World, request: Request) -> Response:
    """After ``reauthorizationRequired``: the app proves it still has access (a valid token)."""
    who = caller(world, request)
    with world.lock:
        sub = _mine(world, who, request.path_params["sub_id"])
        mailbox_owner(who, sub.mailbox_id if who.app_only else "me")
    return Response(status_code=204)


def routes(world: World) -> list[BaseRoute]:
    one = f"{BASE}/subscriptions/{{sub_id}}"
    return [
        Route(f"{BASE}/subscriptions", endpoint(world, create), methods=["POST"]),
        Route(f"{BASE}/subscriptions", endpoint(world, list_all), methods=["GET"]),
        Route(one, endpoint(world, get_one), methods=["GET"]),
        Route(one, endpoint(world, renew), methods=["PATCH"]),
        Route(one, endpoint(world, delete), methods=["DELETE"]),
        Route(f"{one}/reauthorize", endpoint(world, reauthorize), methods=["POST"]),
    ]
