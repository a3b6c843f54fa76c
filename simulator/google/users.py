"""Admin SDK Directory API: users.list and users.get of a Workspace customer.

``GET {base}/google/admin/directory/v1/users`` and ``.../users/{userKey}``, as documented at
https://developers.google.com/workspace/admin/directory/reference/rest/v1/users/list and
``.../users/get``:

- the caller needs ``admin.directory.user(.readonly)`` (else 403 ``insufficientPermissions``) and
  must be an administrator of the domain; a service account acts as one through domain-wide
  delegation ("the service account must impersonate an administrator"); others get 403
  ``forbidden`` "Not Authorized to access this resource/api";
- users.list needs ``customer`` (``my_customer`` or the customer id) or ``domain``; ``maxResults``
  1..500 (default 100); ``pageToken``; ``orderBy=email``; ``showDeleted=true`` lists deleted users
  *instead of* live ones; ``query`` takes the clauses of the "Search for users" guide
  (https://developers.google.com/workspace/admin/directory/v1/guides/search-users) this simulator
  needs: ``email`` ("the user's email addresses, including aliases"; ``=`` exact, ``:`` exact
  address or ``:prefix*``), ``isSuspended=`` and ``isAdmin=``; clauses are ANDed, values may be
  single-quoted, emails compare case-insensitively. An empty page has no ``users`` member;
- users.get takes the primary email, an alias or the user id as ``userKey``; an unknown one is
  404 ``notFound`` "Resource Not Found: userKey".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.google import errors
from simulator.google.auth import Principal, authenticate
from simulator.google.state import (
    USER_READONLY_SCOPE,
    USER_SCOPE,
    Domain,
    GoogleState,
    GoogleUser,
    google,
)
from simulator.google.store import decode_token, encode_token
from simulator.world import World

PREFIX = "/google/admin/directory/v1/users"
NOT_AUTHORIZED = "Not Authorized to access this resource/api"
DEFAULT_PAGE = 100
MAX_PAGE = 500

Predicate = Callable[[GoogleUser], bool]


def _rfc3339(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def as_resource(user: GoogleUser, domain: Domain) -> dict[str, Any]:
    """The ``User`` resource (admin view, basic projection) with the fields Google documents."""
    given, _, family = user.name.partition(" ")
    digest = hashlib.sha1(
        f"{user.email}|{user.aliases}|{user.suspended}|{user.is_admin}|{user.name}".encode()
    ).hexdigest()[:16]
    body: dict[str, Any] = {
        "kind": "admin#directory#user",
        "id": user.id,
        "etag": f'"{digest}"',
        "primaryEmail": user.email,
        "name": {"givenName": given, "familyName": family or given, "fullName": user.name},
        "isAdmin": user.is_admin,
        "isDelegatedAdmin": False,
        "lastLoginTime": "1970-01-01T00:00:00.000Z",
        "creationTime": _rfc3339(user.created_at),
        "agreedToTerms": True,
        "suspended": user.suspended,
        "archived": False,
        "changePasswordAtNextLogin": False,
        "ipWhitelisted": False,
        "emails": [{"address": user.email, "primary": True}]
        + [{"address": alias} for alias in user.aliases],
        "customerId": domain.customer_id,
        "orgUnitPath": "/",
        "isMailboxSetup": True,
        "isEnrolledIn2Sv": False,
        "isEnforcedIn2Sv": False,
        "includeInGlobalAddressList": True,
    }
    if user.aliases:
        body["aliases"] = list(user.aliases)
    if user.suspended:
        body["suspensionReason"] = "ADMIN"
    if user.deleted_at is not None:
        body["deletionTime"] = _rfc3339(user.deleted_at)
    return body


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def _boolean(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value.lower())


def _has_address(value: str) -> Predicate:
    return lambda user: value in user.addresses()


def _has_address_prefix(prefix: str) -> Predicate:
    return lambda user: any(a.startswith(prefix) for a in user.addresses())


def _flag(attribute: str, wanted: bool) -> Predicate:
    return lambda user: bool(getattr(user, attribute)) is wanted


def parse_query(query: str) -> list[Predicate] | None:
    """The clauses of ``query`` as predicates; ``None`` when a clause is not understood."""
    predicates: list[Predicate] = []
    for clause in query.split():
        for op in ("=", ":"):
            field, sep, raw = clause.partition(op)
            if sep and field and raw:
                break
        else:
            return None
        value = _unquote(raw).lower()
        if field == "email":
            if op == ":" and value.endswith("*"):
                predicates.append(_has_address_prefix(value[:-1]))
            else:
                predicates.append(_has_address(value))
        elif field in ("isSuspended", "isAdmin") and op == "=":
            flag = _boolean(value)
            if flag is None:
                return None
            predicates.append(_flag("suspended" if field == "isSuspended" else "is_admin", flag))
        else:
            return None
    return predicates


def _caller_domain(state: GoogleState, principal: Principal) -> Domain | JSONResponse:
    user = state.find_user(principal.email)
    domain = state.domain_of(principal.email)
    if user is None or domain is None or not user.is_admin:
        return errors.forbidden(NOT_AUTHORIZED)
    return domain


def _authorize(world: World, request: Request) -> Domain | JSONResponse:
    principal = authenticate(world, request)
    if isinstance(principal, JSONResponse):
        return principal
    if not principal.has_any(USER_READONLY_SCOPE, USER_SCOPE):
        return errors.insufficient_permissions()
    return _caller_domain(google(world), principal)


def list_users(domain: Domain, params: dict[str, str]) -> JSONResponse:
    customer, domain_name = params.get("customer"), params.get("domain")
    if not customer and not domain_name:
        return errors.bad_request("Bad Request", reason="badRequest")
    if customer and customer not in ("my_customer", domain.customer_id):
        return errors.forbidden(NOT_AUTHORIZED)
    if domain_name and domain_name.lower() != domain.domain:
        return errors.forbidden(NOT_AUTHORIZED)
    try:
        size = int(params.get("maxResults", str(DEFAULT_PAGE)))
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE:
        return errors.bad_request("Invalid value for maxResults", "maxResults")
    predicates = parse_query(params.get("query", ""))
    if predicates is None:
        return errors.bad_request("Invalid Input", "query")
    deleted = params.get("showDeleted", "false").lower() == "true"
    pool = domain.deleted_users.values() if deleted else domain.users.values()
    found = sorted(
        (u for u in pool if all(p(u) for p in predicates)), key=lambda u: (u.email, u.id)
    )
    if params.get("sortOrder", "").upper() == "DESCENDING":
        found.reverse()
    start = 0
    if params.get("pageToken"):
        page = decode_token(params["pageToken"])
        if not page:
            return errors.bad_request("Invalid page token", "pageToken")
        start = int(page["o"])
    chunk = found[start : start + size]
    body: dict[str, Any] = {
        "kind": "admin#directory#users",
        "etag": f'"{domain.customer_id}-{len(found)}"',
    }
    if chunk:
        body["users"] = [as_resource(u, domain) for u in chunk]
    if start + size < len(found):
        body["nextPageToken"] = encode_token({"o": start + size})
    return JSONResponse(body)


def get_user(domain: Domain, key: str) -> JSONResponse:
    wanted = key.lower()
    direct = domain.users.get(wanted)
    if direct is not None:
        return JSONResponse(as_resource(direct, domain))
    for user in domain.users.values():
        if user.id == key or wanted in user.aliases:
            return JSONResponse(as_resource(user, domain))
    return errors.error_response(404, "notFound", "Resource Not Found: userKey")


def routes(world: World) -> list[BaseRoute]:
    """users.list and users.get."""

    async def users_list(request: Request) -> Response:
        with world.lock:
            domain = _authorize(world, request)
            if isinstance(domain, JSONResponse):
                return domain
            return list_users(domain, dict(request.query_params))

    async def users_get(request: Request) -> Response:
        with world.lock:
            domain = _authorize(world, request)
            if isinstance(domain, JSONResponse):
                return domain
            key = str(request.path_params["user_key"])
            other = google(world).domain_of(key) if "@" in key else None
            if other is not None and other is not domain:
                return errors.forbidden(NOT_AUTHORIZED)
            return get_user(domain, key)

    return [
        Route(PREFIX, users_list, methods=["GET"]),
        Route(PREFIX + "/{user_key}", users_get, methods=["GET"]),
    ]
