"""``/me``, ``/users/{id | userPrincipalName}`` and ``/users?$filter=...``.

Permissions (https://learn.microsoft.com/graph/api/user-get, .../user-list): ``/me`` needs
delegated ``User.Read`` (or higher); other users need ``User.ReadBasic.All``/``User.Read.All``
(delegated or application). ``$filter`` supports ``mail eq '...'`` and
``userPrincipalName eq '...'`` (joined with ``or``), and ``$select`` trims properties.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.microsoft.directory import MsUser
from simulator.microsoft.graph.auth import USER_ANY, USER_SELF, caller
from simulator.microsoft.graph.errors import GraphError
from simulator.microsoft.graph.http import BASE, endpoint, ok, root
from simulator.world import World

_CLAUSE = re.compile(r"^\s*(mail|userPrincipalName|id)\s+eq\s+'((?:[^']|'')*)'\s*$", re.I)


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
    }
    if select:
        wanted = {s.strip().lower() for s in select.split(",")}
        out = {k: v for k, v in out.items() if k.lower() in wanted}
    return out


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
        who.require(USER_ANY)
        found = who.tenant.find_user(key)
        if found is None:
            raise _not_found(key)
        user = found
    body = {"@odata.context": f"{root(world)}/$metadata#users/$entity"}
    body.update(user_json(user, request.query_params.get("$select")))
    return ok(body)


def _matches(user: MsUser, expression: str) -> bool:
    for clause in re.split(r"\s+or\s+", expression, flags=re.I):
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
    who.require(USER_ANY)
    expression = request.query_params.get("$filter")
    select = request.query_params.get("$select")
    with world.lock:
        users = [u for u in who.tenant.users.values() if u.kind == "user"]
        if expression:
            users = [u for u in who.tenant.users.values() if _matches(u, expression)]
    return ok(
        {
            "@odata.context": f"{root(world)}/$metadata#users",
            "value": [user_json(u, select) for u in users],
        }
    )


def routes(world: World) -> list[BaseRoute]:
    return [
        Route(f"{BASE}/me", endpoint(world, me), methods=["GET"]),
        Route(f"{BASE}/users", endpoint(world, list_users), methods=["GET"]),
        Route(f"{BASE}/users/{{user}}", endpoint(world, get_user), methods=["GET"]),
    ]
