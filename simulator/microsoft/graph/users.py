"""``/me``, ``/users/{id | userPrincipalName}`` and ``/users?$filter=...``.

Permissions (https://learn.microsoft.com/graph/api/user-get, .../user-list): ``/me`` needs
delegated ``User.Read`` (or higher); other users need ``User.ReadBasic.All``/``User.Read.All``
(delegated or application). ``$filter`` supports ``mail eq '...'``,
``userPrincipalName eq '...'`` and ``proxyAddresses/any(x:x eq 'smtp:...')`` (joined with
``or``); ``$select`` trims properties (``proxyAddresses``, ``userType`` and ``accountEnabled``
only when selected, as Graph returns them only then); ``$top`` pages the listing with an
``@odata.nextLink`` carrying ``$skiptoken``. Without a directory permission an app-only or
delegated caller gets 403 ``Authorization_RequestDenied`` "Insufficient privileges to
complete the operation." (https://learn.microsoft.com/graph/resolve-auth-errors).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.microsoft.directory import MsUser
from simulator.microsoft.graph.auth import USER_ANY, USER_SELF, Caller, caller
from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.http import BASE, endpoint, ok, root
from simulator.world import World

_CLAUSE = re.compile(r"^\s*(mail|userPrincipalName|id)\s+eq\s+'((?:[^']|'')*)'\s*$", re.I)
_ANY = re.compile(
    r"^\s*proxyAddresses/any\(\s*(\w+)\s*:\s*\1\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$", re.I
)
_DEFAULT = (
    "businessPhones,displayName,givenName,jobTitle,mail,mobilePhone,officeLocation,"
    "preferredLanguage,surname,userPrincipalName,id"
)
MAX_TOP = 999


def _require_directory(who: Caller) -> None:
    if not who.permissions & USER_ANY:
        raise GraphError(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )


def user_json(user: MsUser, select: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.display_name.split(" ")[0],
        "jobTitle": None,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": user.display_name.split(" ")[-1],
        "userPrincipalName": user.user_principal_name,
        "id": user.id,
        "proxyAddresses": list(user.proxy_addresses),
        "userType": user.user_type,
        "accountEnabled": user.account_enabled,
    }
    wanted = {s.strip().lower() for s in (select or _DEFAULT).split(",")}
    return {k: v for k, v in out.items() if k.lower() in wanted}


def _not_found(key: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )


async def me(world: World, request: Request) -> Response:
    who = caller(world, request)
    who.require(USER_SELF)
    user = who.me()
    body = {"@odata.context": f"{root(world)}/$metadata#users/$entity"}
    body.update(user_json(user, request.query_params.get("$select")))
    return ok(body)


async def get_user(world: World, request: Request) -> Response:
    who = caller(world, request)
    key = request.path_params["user"]
    if who.user_id is not None and key in (who.user_id,) and who.permissions & USER_SELF:
        user = who.me()
    else:
        _require_directory(who)
        found = who.tenant.find_user(key)
        if found is None:
            raise _not_found(key)
        user = found
    body = {"@odata.context": f"{root(world)}/$metadata#users/$entity"}
    body.update(user_json(user, request.query_params.get("$select")))
    return ok(body)


def _matches(user: MsUser, expression: str) -> bool:
    for clause in re.split(r"\s+or\s+", expression, flags=re.I):
        any_match = _ANY.match(clause)
        if any_match is not None:
            value = any_match.group(2).replace("''", "'").lower()
            if any(a.lower() == value for a in user.proxy_addresses):
                return True
            continue
        match = _CLAUSE.match(clause)
        if match is None:
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                f"Unsupported or invalid query filter clause "
                f"specified for property '{clause.strip()}' of resource 'User'.",
            )
        prop, value = match.group(1).lower(), match.group(2).replace("''", "'").lower()
        actual = {"mail": user.mail, "userprincipalname": user.user_principal_name, "id": user.id}
        if actual[prop].lower() == value:
            return True
    return False


async def list_users(world: World, request: Request) -> Response:
    who = caller(world, request)
    _require_directory(who)
    expression = request.query_params.get("$filter")
    select = request.query_params.get("$select")
    try:
        top = min(MAX_TOP, max(1, int(request.query_params.get("$top", "100"))))
        skip = int(request.query_params.get("$skiptoken", "0"))
    except ValueError as exc:
        raise GraphError(400, "Request_BadRequest", "Invalid $top or $skiptoken.") from exc
    with world.lock:
        users = [u for u in who.tenant.users.values() if u.kind == "user"]
        if expression:
            users = [u for u in who.tenant.users.values() if _matches(u, expression)]
        page = users[skip : skip + top]
    body: dict[str, Any] = {
        "@odata.context": f"{root(world)}/$metadata#users",
        "value": [user_json(u, select) for u in page],
    }
    if skip + top < len(users):
        query = {k: v for k, v in request.query_params.items() if k != "$skiptoken"}
        query["$skiptoken"] = str(skip + top)
        body["@odata.nextLink"] = f"{root(world)}/users?{urlencode(query)}"
    return ok(body)


def routes(world: World) -> list[BaseRoute]:
    return [
        Route(f"{BASE}/me", endpoint(world, me), methods=["GET"]),
        Route(f"{BASE}/users", endpoint(world, list_users), methods=["GET"]),
        Route(f"{BASE}/users/{{user}}", endpoint(world, get_user), methods=["GET"]),
    ]
