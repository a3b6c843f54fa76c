"""Who is calling: the bearer token, its tenant, and the permissions it carries.

Permission names and the least-privileged sets come from each API's "Permissions" table on
Microsoft Learn (for example https://learn.microsoft.com/graph/api/user-get and
https://learn.microsoft.com/graph/api/event-get). Delegated tokens carry ``scp`` and act for
``oid``; app-only tokens carry ``roles`` and ``idtyp: app`` and may reach any mailbox of their
tenant. Outlook items are never visible across tenants: a mailbox is resolved in the token's
tenant only, so another tenant's user is simply not found there.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from simulator import tokens
from simulator.microsoft.directory import MsUser, Tenant, directory
from simulator.microsoft.graph.errors import GraphError, access_denied
from simulator.world import World

# Higher privileged permissions include the lower ones (Calendars.ReadWrite covers reads).
CALENDAR_READ = frozenset({"Calendars.Read", "Calendars.ReadWrite"})
CALENDAR_WRITE = frozenset({"Calendars.ReadWrite"})
CALENDAR_FREEBUSY = frozenset({"Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"})
USER_SELF = frozenset({"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All"})
USER_ANY = frozenset(
    {"User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All"}
)
PLACES = frozenset({"Place.Read.All", "Place.ReadWrite.All"})


@dataclass(frozen=True)
class Caller:
    """The verified token of a Graph request."""

    tenant: Tenant
    app_id: str
    user_id: str | None  # None for app-only tokens
    permissions: frozenset[str]

    @property
    def app_only(self) -> bool:
        return self.user_id is None

    def require(self, allowed: frozenset[str]) -> None:
        """403 ``ErrorAccessDenied`` unless the token carries one of ``allowed``."""
        if not self.permissions & allowed:
            raise access_denied()

    def me(self) -> MsUser:
        """The signed-in user of a delegated token (``/me``); app-only tokens have none."""
        if self.user_id is None:
            # Graph's answer to /me with an app-only token.
            raise GraphError(
                400,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            )
        user = self.tenant.users.get(self.user_id)
        if user is None:
            raise GraphError(401, "InvalidAuthenticationToken", "User not found in tenant.")
        return user


def _invalid(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message)


def caller(world: World, request: Request) -> Caller:
    """Verify the ``Authorization: Bearer`` token; 401 ``InvalidAuthenticationToken`` if bad."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _invalid("Access token is empty.")
    try:
        claims = tokens.verify(world, token.strip(), audience=tokens.GRAPH_AUDIENCE)
    except tokens.InvalidToken as exc:
        if "expired" in str(exc):
            raise _invalid("Lifetime validation failed, the token is expired.") from exc
        raise _invalid("IDX14100: JWT is not well formed.") from exc
    with world.lock:
        tenant = directory(world).tenants.get(str(claims.get("tid", "")))
    if tenant is None:
        raise _invalid("Access token validation failure. Invalid tenant.")
    if claims.get("idtyp") == "app":
        return Caller(
            tenant=tenant,
            app_id=str(claims.get("appid", "")),
            user_id=None,
            permissions=frozenset(claims.get("roles", [])),
        )
    return Caller(
        tenant=tenant,
        app_id=str(claims.get("appid", "")),
        user_id=str(claims["oid"]),
        permissions=frozenset(str(claims.get("scp", "")).split()),
    )


def mailbox_owner(who: Caller, key: str, *, write: bool = False) -> MsUser:
    """The mailbox ``key`` (``me``, an id, a UPN or a mail) the caller may read (or write).

    Delegated tokens reach the signed-in user's own mailbox only; application tokens reach any
    mailbox of their tenant. Unknown users (including other tenants' users) give 404
    ``ErrorInvalidUser`` as Exchange does.
    """
    allowed = CALENDAR_WRITE if write else CALENDAR_READ
    who.require(allowed)
    if key == "me":
        return who.me()
    user = who.tenant.find_user(key)
    if user is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
    if not who.app_only and user.id != who.user_id:
        raise access_denied()
    if who.app_only:
        sp = who.tenant.service_principals.get(who.app_id)
        if sp is not None and sp.mailbox_scope is not None and user.id not in sp.mailbox_scope:
            # https://learn.microsoft.com/graph/auth-limit-mailbox-access: a mailbox outside
            # the application access policy answers 403 ErrorAccessDenied with this text.
            raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
    if not user.has_mailbox:
        raise GraphError(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    return user
