"""Control routes under ``{base}/_sim/google``: set up the Workspace world and act in it.

Used by tests and demos through :class:`simulator.google.client.GoogleControl`. Bodies and answers
are JSON; errors are ``{"error": "..."}`` with 400/404. Routes (``{d}`` = domain name,
``{cal}`` = calendar id, i.e. a user's or room's email)::

    POST   /_sim/google/domains                          {domain, name?, customer_id?}
    POST   /_sim/google/domains/{d}/users                {email, name?, is_admin?, aliases?,
                                                          suspended?}
    POST   /_sim/google/domains/{d}/users:bulk           {users: [{email, ...}, ...]} -> {count}
    PATCH  /_sim/google/domains/{d}/users/{email}        {suspended?, aliases?, is_admin?, name?}
    DELETE /_sim/google/domains/{d}/users/{email}        (deleted: tokens and directory change)
    POST   /_sim/google/domains/{d}/rooms                {email, name, capacity?, building_id?,
                                                          floor_name?, policy?}
    PATCH  /_sim/google/domains/{d}/policy               {app_trust?: {client_id: trust},
                                                          block_unconfigured_apps?,
                                                          context_aware_block?, block_response?}
    PUT    /_sim/google/domains/{d}/delegation/{client_id}   {scopes: [...]}
    DELETE /_sim/google/domains/{d}/delegation/{client_id}
    POST   /_sim/google/clients                          {name, redirect_uris, client_id?,
                                                          client_secret?, internal_domain?}
    POST   /_sim/google/service-accounts                 {name, project_id?} -> key file JSON
    POST   /_sim/google/service-accounts/{email}/keys    -> another key file of the account
    DELETE /_sim/google/service-accounts/{email}/keys/{key_id}
    GET    /_sim/google/calendars/{cal}/events           -> {"items": [...]} (cancelled too)
    POST   /_sim/google/calendars/{cal}/events           event body -> event
    PATCH  /_sim/google/calendars/{cal}/events/{id}      partial event -> event
    DELETE /_sim/google/calendars/{cal}/events/{id}
    POST   /_sim/google/calendars/{cal}/events/{id}/respond  {attendee, response} -> event
    POST   /_sim/google/calendars/{cal}/invalidate-sync-tokens
    DELETE /_sim/google/calendars/{cal}                  (channels get ``not_exists``)
    PUT    /_sim/google/calendars/{cal}/time-zone        {timeZone} -> the calendar's zone
    POST   /_sim/google/users/{email}/revoke-tokens      -> {"revoked": n}
    GET    /_sim/google/push-log                         -> {"deliveries": [...], "pending": n}
    GET    /_sim/google/channels                         -> {"items": [...]}
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.google import channels, listing, store
from simulator.google.state import Domain, GoogleUser, OAuthClient, Room, ServiceAccount, google
from simulator.google.token import token_url
from simulator.world import World

PREFIX = "/_sim/google"
Handler = Callable[[Request, dict[str, Any]], Any]


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _domain(world: World, name: str) -> Domain:
    domain = google(world).domains.get(name.lower())
    if domain is None:
        raise ControlError(404, f"no domain {name}")
    return domain


def add_domain(world: World, body: dict[str, Any]) -> dict[str, Any]:
    name = body["domain"].lower()
    state = google(world)
    if name not in state.domains:
        customer = body.get("customer_id") or "C0" + secrets.token_hex(4)
        state.domains[name] = Domain(customer, name, body.get("name") or name)
    d = state.domains[name]
    return {"domain": d.domain, "customer_id": d.customer_id, "name": d.name}


def _taken(domain: Domain, owner: str | None) -> dict[str, str]:
    """Every address (primary or alias) of the domain's users other than ``owner``."""
    return {
        address: user.email
        for user in domain.users.values()
        if user.email != owner
        for address in user.addresses()
    }


def _check_addresses(domain: Domain, addresses: list[str], taken: dict[str, str]) -> None:
    """Google keeps every address (primary or alias) unique across the customer: creating a
    second user or alias with a taken address answers 409 "Entity already exists."."""
    for address in addresses:
        if not address.endswith("@" + domain.domain):
            raise ControlError(400, f"{address} is not in {domain.domain}")
        if address in taken:
            raise ControlError(409, f"Entity already exists: {address}")


def add_user(
    world: World, domain_name: str, body: dict[str, Any], taken: dict[str, str] | None = None
) -> dict[str, Any]:
    domain = _domain(world, domain_name)
    email = body["email"].lower()
    aliases = [str(a).lower() for a in body.get("aliases") or []]
    existing = domain.users.get(email)
    if taken is None or existing is not None:
        taken = _taken(domain, email)
    _check_addresses(domain, [email, *aliases], taken)
    user = GoogleUser(
        id=existing.id if existing else google(world).new_numeric_id(),
        email=email,
        name=body.get("name") or email.split("@")[0],
        domain=domain.domain,
        is_admin=bool(body.get("is_admin", False)),
        aliases=aliases,
        suspended=bool(body.get("suspended", False)),
        created_at=existing.created_at if existing else world.timestamp(),
    )
    domain.users[email] = user
    return _user_summary(user)


def _user_summary(user: GoogleUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "is_admin": user.is_admin,
        "aliases": list(user.aliases),
        "suspended": user.suspended,
    }


def add_users(world: World, domain_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Many users in one call (large directories for benchmarks)."""
    taken = _taken(_domain(world, domain_name), None)
    for item in body.get("users", []):
        added = add_user(world, domain_name, item, taken)
        for address in [added["email"], *added["aliases"]]:
            taken[address] = added["email"]
    return {"count": len(body.get("users", []))}


def _live_user(domain: Domain, email: str) -> GoogleUser:
    user = domain.users.get(email.lower())
    if user is None:
        raise ControlError(404, f"no user {email}")
    return user


def update_user(world: World, domain_name: str, email: str, body: dict[str, Any]) -> dict[str, Any]:
    domain = _domain(world, domain_name)
    user = _live_user(domain, email)
    if "aliases" in body:
        aliases = [str(a).lower() for a in body["aliases"] or []]
        _check_addresses(domain, aliases, _taken(domain, user.email))
        user.aliases = aliases
    if "suspended" in body:
        user.suspended = bool(body["suspended"])
    if "is_admin" in body:
        user.is_admin = bool(body["is_admin"])
    if body.get("name"):
        user.name = str(body["name"])
    return _user_summary(user)


def delete_user(world: World, domain_name: str, email: str) -> None:
    """Delete the account: it leaves the directory (``showDeleted`` still lists it) and token
    requests naming it answer ``invalid_grant`` "The account has been deleted"."""
    domain = _domain(world, domain_name)
    user = domain.users.pop(_live_user(domain, email).email)
    user.deleted_at = world.timestamp()
    domain.deleted_users[user.id] = user


def add_room(world: World, domain_name: str, body: dict[str, Any]) -> dict[str, Any]:
    domain = _domain(world, domain_name)
    email = body["email"].lower()
    if body.get("policy", "accept") not in ("accept", "decline_when_busy", "never_answer"):
        raise ControlError(400, "policy must be accept, decline_when_busy or never_answer")
    room = Room(
        resource_id=body.get("resource_id") or str(world.rng.randrange(10**10, 10**11)),
        resource_email=email,
        resource_name=body["name"],
        capacity=body.get("capacity"),
        building_id=body.get("building_id"),
        floor_name=body.get("floor_name"),
        policy=body.get("policy", "accept"),
    )
    domain.rooms[email] = room
    return room.as_resource()


def set_policy(world: World, domain_name: str, body: dict[str, Any]) -> dict[str, Any]:
    domain = _domain(world, domain_name)
    for client_id, trust in body.get("app_trust", {}).items():
        if trust not in ("trusted", "limited", "blocked", "unconfigured"):
            raise ControlError(400, f"unknown trust {trust}")
        domain.app_trust[client_id] = trust
    for key in ("block_unconfigured_apps", "context_aware_block"):
        if key in body:
            setattr(domain, key, bool(body[key]))
    if "block_response" in body:
        if body["block_response"] not in ("redirect", "page"):
            raise ControlError(400, "block_response must be redirect or page")
        domain.block_response = body["block_response"]
    return {
        "app_trust": dict(domain.app_trust),
        "block_unconfigured_apps": domain.block_unconfigured_apps,
        "context_aware_block": domain.context_aware_block,
        "block_response": domain.block_response,
    }


def add_client(world: World, body: dict[str, Any]) -> dict[str, Any]:
    generated = f"{world.rng.randrange(10**11, 10**12)}-{secrets.token_hex(16)}"
    client = OAuthClient(
        client_id=body.get("client_id") or generated + ".apps.googleusercontent.com",
        client_secret=body.get("client_secret") or "GOCSPX-" + secrets.token_urlsafe(21),
        name=body.get("name", "App"),
        redirect_uris=list(body.get("redirect_uris", [])),
        internal_domain=body.get("internal_domain"),
    )
    google(world).clients[client.client_id] = client
    return {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "internal_domain": client.internal_domain,
        "auth_uri": f"{world.base_url}/google/o/oauth2/auth",
        "token_uri": token_url(world),
    }


def _new_key(world: World, account: ServiceAccount) -> dict[str, Any]:
    """A new key of ``account`` and its key file (the JSON Google Cloud console downloads)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = secrets.token_hex(20)
    account.keys[key_id] = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": account.project_id,
        "private_key_id": key_id,
        "private_key": private_pem,
        "client_email": account.client_email,
        "client_id": account.client_id,
        "auth_uri": f"{world.base_url}/google/o/oauth2/auth",
        "token_uri": token_url(world),
        "auth_provider_x509_cert_url": f"{world.base_url}/google/oauth2/v3/certs",
        "universe_domain": "googleapis.com",
    }


def add_service_account(world: World, body: dict[str, Any]) -> dict[str, Any]:
    """A service account with one key; returns the key file."""
    project = body.get("project_id", "sim-project")
    email = f"{body['name']}@{project}.iam.gserviceaccount.com".lower()
    account = ServiceAccount(
        client_email=email,
        client_id=str(world.rng.randrange(10**20, 10**21)),
        project_id=project,
    )
    google(world).service_accounts[email] = account
    return _new_key(world, account)


def _account(world: World, email: str) -> ServiceAccount:
    account = google(world).service_accounts.get(email.lower())
    if account is None:
        raise ControlError(404, f"no service account {email}")
    return account


def delete_key(world: World, email: str, key_id: str) -> None:
    account = _account(world, email)
    if account.keys.pop(key_id, None) is None:
        raise ControlError(404, f"no key {key_id}")
    account.deleted_keys.add(key_id)


def revoke_user_tokens(world: World, email: str) -> int:
    count = 0
    for grant in google(world).grants.values():
        if grant.user_email == email.lower() and not grant.revoked:
            grant.revoked = True
            count += 1
    return count


def all_events(world: World, calendar_id: str) -> dict[str, Any]:
    cal = store.calendar(world, calendar_id)
    return {"items": [store.render(world, cal, e) for e in cal.events.values()]}


def set_time_zone(world: World, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Set the calendar's time zone (an IANA name, as Google's settings accept)."""
    name = str(body["timeZone"])
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ControlError(400, f"unknown time zone {name!r}") from exc
    cal = store.calendar(world, calendar_id)
    cal.time_zone = name
    return {"id": cal.id, "timeZone": name}


def delete_calendar(world: World, calendar_id: str) -> None:
    cal = store.calendar(world, calendar_id)
    channels.channels(world)  # make sure the listener exists before the last message
    store.store(world).calendars.pop(cal.id, None)
    for listener in list(store.store(world).listeners):
        listener(cal.id, "not_exists")


def routes(world: World) -> list[BaseRoute]:
    """The control routes listed in the module docstring."""

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return JSONResponse({"error": "body is not JSON"}, status_code=400)
            try:
                with world.lock:
                    result = handler(request, body)
            except ControlError as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except store.EventError as exc:
                return JSONResponse(
                    {"error": exc.message, "reason": exc.reason}, status_code=exc.code
                )
            except KeyError as exc:
                return JSONResponse({"error": f"missing {exc}"}, status_code=400)
            if result is None:
                return Response(status_code=204)
            return JSONResponse(result)

        return run

    def p(request: Request, name: str) -> str:
        return str(request.path_params[name])

    table: list[tuple[str, str, Handler]] = [
        ("/domains", "POST", lambda r, b: add_domain(world, b)),
        ("/domains/{d}/users", "POST", lambda r, b: add_user(world, p(r, "d"), b)),
        ("/domains/{d}/users:bulk", "POST", lambda r, b: add_users(world, p(r, "d"), b)),
        (
            "/domains/{d}/users/{email}",
            "PATCH",
            lambda r, b: update_user(world, p(r, "d"), p(r, "email"), b),
        ),
        (
            "/domains/{d}/users/{email}",
            "DELETE",
            lambda r, b: delete_user(world, p(r, "d"), p(r, "email")),
        ),
        ("/domains/{d}/rooms", "POST", lambda r, b: add_room(world, p(r, "d"), b)),
        ("/domains/{d}/policy", "PATCH", lambda r, b: set_policy(world, p(r, "d"), b)),
        (
            "/domains/{d}/delegation/{client_id}",
            "PUT",
            lambda r, b: _domain(world, p(r, "d")).dwd_grants.__setitem__(
                p(r, "client_id"), set(b.get("scopes", []))
            ),
        ),
        (
            "/domains/{d}/delegation/{client_id}",
            "DELETE",
            lambda r, b: _domain(world, p(r, "d")).dwd_grants.pop(p(r, "client_id"), None) and None,
        ),
        ("/clients", "POST", lambda r, b: add_client(world, b)),
        ("/service-accounts", "POST", lambda r, b: add_service_account(world, b)),
        (
            "/service-accounts/{email}/keys",
            "POST",
            lambda r, b: _new_key(world, _account(world, p(r, "email"))),
        ),
        (
            "/service-accounts/{email}/keys/{key_id}",
            "DELETE",
            lambda r, b: delete_key(world, p(r, "email"), p(r, "key_id")),
        ),
        ("/calendars/{cal}/events", "GET", lambda r, b: all_events(world, p(r, "cal"))),
        ("/calendars/{cal}/events", "POST", lambda r, b: store.insert_event(world, p(r, "cal"), b)),
        (
            "/calendars/{cal}/events/{id}",
            "PATCH",
            lambda r, b: store.modify_event(world, p(r, "cal"), p(r, "id"), b, replace=False),
        ),
        (
            "/calendars/{cal}/events/{id}",
            "DELETE",
            lambda r, b: store.delete_event(world, p(r, "cal"), p(r, "id")),
        ),
        (
            "/calendars/{cal}/events/{id}/respond",
            "POST",
            lambda r, b: store.set_response(
                world, p(r, "cal"), p(r, "id"), b["attendee"], b["response"]
            ),
        ),
        (
            "/calendars/{cal}/invalidate-sync-tokens",
            "POST",
            lambda r, b: listing.invalidate_sync_tokens(world, p(r, "cal")),
        ),
        ("/calendars/{cal}", "DELETE", lambda r, b: delete_calendar(world, p(r, "cal"))),
        ("/calendars/{cal}/time-zone", "PUT", lambda r, b: set_time_zone(world, p(r, "cal"), b)),
        (
            "/users/{email}/revoke-tokens",
            "POST",
            lambda r, b: {"revoked": revoke_user_tokens(world, p(r, "email"))},
        ),
        ("/push-log", "GET", lambda r, b: channels.delivery_log(world)),
        ("/channels", "GET", lambda r, b: {"items": channels.list_channels(world)}),
    ]
    return [Route(PREFIX + path, endpoint(h), methods=[m]) for path, m, h in table]
