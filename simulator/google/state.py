"""The simulated Google Workspace: domains, users, rooms, OAuth clients, service accounts, grants.

One :class:`GoogleState` per :class:`~simulator.world.World` (obtain it with :func:`google`).
Calendars and push channels live in :mod:`simulator.google.store` and
:mod:`simulator.google.channels`; this module is the identity and policy side.

Vocabulary follows the Google Admin console:

- a *domain* is a Workspace customer (``customer_id`` like ``C03az79cb``, primary domain name);
- *app access control* (Admin console > Security > API controls) sets each OAuth client's trust
  in a domain: ``trusted``, ``limited`` (may reach unrestricted services only; here: Calendar yes,
  Admin SDK no), ``blocked``; unconfigured apps are allowed unless the domain blocks them
  (``block_unconfigured_apps``);
- *context-aware access* blocks a user's sign-in to third-party apps (``context_aware_block``);
- *domain-wide delegation* (Security > API controls > Domain-wide delegation) grants a service
  account's client id a set of scopes in the domain;
- the *user directory* (Directory > Users): each user has one primary email and any number of
  aliases (alternate addresses of the same mailbox, unique across the customer like primary
  addresses: https://developers.google.com/workspace/admin/directory/v1/guides/manage-user-aliases),
  may be suspended, and once deleted is listed only with ``showDeleted=true`` (restorable for 20
  days, https://support.google.com/a/answer/1397578).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

from simulator.world import World

AppTrust = Literal["trusted", "limited", "blocked", "unconfigured"]
RoomPolicy = Literal["accept", "decline_when_busy", "never_answer"]
BlockResponse = Literal["redirect", "page"]

# Scopes of the Admin SDK Directory API: refused for apps with "limited" trust.
ADMIN_SCOPE_PREFIX = "https://www.googleapis.com/auth/admin."
USER_READONLY_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
USER_SCOPE = "https://www.googleapis.com/auth/admin.directory.user"
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
CALENDAR_EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events"
CALENDAR_READONLY_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
CALENDAR_EVENTS_READONLY_SCOPE = "https://www.googleapis.com/auth/calendar.events.readonly"
RESOURCE_READONLY_SCOPE = (
    "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
)
RESOURCE_SCOPE = "https://www.googleapis.com/auth/admin.directory.resource.calendar"
# Sign-in scopes; Google's granular consent never lets users untick these.
BASIC_SCOPES = frozenset(
    {
        "openid",
        "email",
        "profile",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    }
)


@dataclass
class GoogleUser:
    """A Workspace user account (``id`` is Google's numeric subject identifier).

    ``email`` is the primary email address; ``aliases`` are lower-case alternate addresses.
    ``deleted_at`` (POSIX time) is set once an administrator deleted the account.
    """

    id: str
    email: str
    name: str
    domain: str
    is_admin: bool = False
    aliases: list[str] = field(default_factory=list)
    suspended: bool = False
    created_at: float = 0.0
    deleted_at: float | None = None

    def addresses(self) -> list[str]:
        """Primary email first, then the aliases."""
        return [self.email, *self.aliases]


@dataclass
class Room:
    """A calendar resource (Admin SDK ``resources.calendars``)."""

    resource_id: str
    resource_email: str
    resource_name: str
    capacity: int | None = None
    building_id: str | None = None
    floor_name: str | None = None
    policy: RoomPolicy = "accept"

    def as_resource(self) -> dict[str, object]:
        """The Admin SDK ``CalendarResource`` representation."""
        body: dict[str, object] = {
            "kind": "admin#directory#resources#calendars#CalendarResource",
            "etags": f'"{self.resource_id}-etag"',
            "resourceId": self.resource_id,
            "resourceName": self.resource_name,
            "generatedResourceName": self.resource_name,
            "resourceEmail": self.resource_email,
            "resourceType": "Conference room",
            "resourceCategory": "CONFERENCE_ROOM",
        }
        if self.capacity is not None:
            body["capacity"] = self.capacity
        if self.building_id is not None:
            body["buildingId"] = self.building_id
        if self.floor_name is not None:
            body["floorName"] = self.floor_name
        return body


@dataclass
class Domain:
    """A Workspace customer and its admin policies."""

    customer_id: str
    domain: str
    name: str
    users: dict[str, GoogleUser] = field(default_factory=dict)  # by lower-case primary email
    deleted_users: dict[str, GoogleUser] = field(default_factory=dict)  # by user id
    rooms: dict[str, Room] = field(default_factory=dict)  # by lower-case resource email
    app_trust: dict[str, AppTrust] = field(default_factory=dict)  # client id -> trust
    block_unconfigured_apps: bool = False
    context_aware_block: bool = False
    # How the authorization endpoint reports admin_policy_enforced / context-aware blocks:
    # "redirect" (error at the redirect URI, as reported in oauthlib/oauthlib#707) or "page"
    # (Google's "Access blocked" page; the browser never comes back).
    block_response: BlockResponse = "redirect"
    dwd_grants: dict[str, set[str]] = field(default_factory=dict)  # SA client id -> scopes

    def trust_of(self, client_id: str) -> AppTrust:
        return self.app_trust.get(client_id, "unconfigured")


@dataclass
class OAuthClient:
    """A web OAuth client (Google Cloud console > Credentials)."""

    client_id: str
    client_secret: str
    name: str
    redirect_uris: list[str]
    internal_domain: str | None = None  # set for "Internal" apps: only this domain's users


@dataclass
class ServiceAccount:
    """A service account and its keys (key id -> PEM public key); a deleted key's id is kept
    in ``deleted_keys`` (assertions signed with it are refused)."""

    client_email: str
    client_id: str
    project_id: str
    keys: dict[str, str] = field(default_factory=dict)
    deleted_keys: set[str] = field(default_factory=set)


@dataclass
class AuthRequest:
    """An authorization request waiting for the person on the consent page."""

    id: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    access_type: str
    login_hint: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    include_granted_scopes: bool
    nonce: str | None


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    user_email: str
    scopes: list[str]
    code_challenge: str | None
    code_challenge_method: str | None
    offline: bool
    nonce: str | None
    expires_at: float
    include_granted_scopes: bool = False
    used: bool = False


@dataclass
class Grant:
    """A user's grant to a client: the refresh token and the scopes it carries."""

    id: str
    client_id: str
    user_email: str
    scopes: list[str]
    refresh_token: str | None
    revoked: bool = False


@dataclass
class GoogleState:
    domains: dict[str, Domain] = field(default_factory=dict)  # by domain name
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)  # by email
    auth_requests: dict[str, AuthRequest] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)  # by grant id
    refresh_index: dict[str, str] = field(default_factory=dict)  # refresh token -> grant id
    next_numeric_id: int = 100000000000000000001

    def new_numeric_id(self) -> str:
        self.next_numeric_id += 1
        return str(self.next_numeric_id)

    def find_user(self, email: str) -> GoogleUser | None:
        """The live user whose *primary* email is ``email`` (aliases do not count)."""
        domain = self.domains.get(email.rsplit("@", 1)[-1].lower())
        return domain.users.get(email.lower()) if domain else None

    def find_by_address(self, address: str) -> GoogleUser | None:
        """The live user with ``address`` as primary email or alias."""
        domain = self.domains.get(address.rsplit("@", 1)[-1].lower())
        if domain is None:
            return None
        wanted = address.lower()
        if wanted in domain.users:
            return domain.users[wanted]
        for user in domain.users.values():
            if wanted in user.aliases:
                return user
        return None

    def find_deleted(self, address: str) -> GoogleUser | None:
        """A deleted user whose primary email (or alias) was ``address``; the latest one."""
        domain = self.domains.get(address.rsplit("@", 1)[-1].lower())
        if domain is None:
            return None
        wanted = address.lower()
        found = [u for u in domain.deleted_users.values() if wanted in u.addresses()]
        return max(found, key=lambda u: u.deleted_at or 0.0) if found else None

    def find_room(self, email: str) -> tuple[Domain, Room] | None:
        domain = self.domains.get(email.rsplit("@", 1)[-1].lower())
        if domain and email.lower() in domain.rooms:
            return domain, domain.rooms[email.lower()]
        return None

    def domain_of(self, email: str) -> Domain | None:
        return self.domains.get(email.rsplit("@", 1)[-1].lower())


def google(world: World) -> GoogleState:
    """The world's Google state, created on first use."""
    return world.area("google", GoogleState)


def random_token(prefix: str, size: int = 32) -> str:
    """An opaque credential in Google's visual style (``4/...`` codes, ``1//...`` refresh)."""
    return prefix + secrets.token_urlsafe(size)
