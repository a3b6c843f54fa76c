"""The Workspace user directory through the Admin SDK (users.list, users.get).

Directory calls act as an administrator of the domain: "the service account must impersonate an
administrator of the domain" (domain-wide delegation alone is not enough); a non-admin gets 403
``forbidden`` "Not Authorized to access this resource/api". The scope is
``admin.directory.user.readonly``
(https://developers.google.com/workspace/admin/directory/reference/rest/v1/users/list).

* users.list pages through the whole customer (``customer=my_customer``), at most 500 users a
  page (the documented maximum of ``maxResults``), each with its primary email, aliases and
  ``suspended`` flag;
* users.get takes a primary email, an alias or the immutable user id; 404 ``notFound``
  "Resource Not Found: userKey" means no such user.

Not thread-safe (one httplib2 connection): one reader per thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.errors import ProviderNotFound
from shared.providers.base import TokenSource
from shared.providers.google import errors
from shared.providers.google.transport import authorized_http
from shared.providers.retry import RetryPolicy
from shared.providers.urls import checked
from shared.settings import Settings

PAGE_SIZE = 500  # users.list maxResults ceiling
# Only what matching needs: fewer bytes per page of a large directory.
_LIST_FIELDS = "nextPageToken,users(id,primaryEmail,aliases,suspended,name/fullName)"
_GET_FIELDS = "id,primaryEmail,aliases,suspended,name/fullName"


@dataclass(frozen=True)
class DirectoryEntry:
    """One Workspace user: immutable ``id``, lower-cased primary email and aliases."""

    id: str
    primary_email: str
    aliases: tuple[str, ...] = ()
    suspended: bool = False
    display_name: str = ""

    @staticmethod
    def from_resource(item: dict[str, Any]) -> DirectoryEntry:
        name = item.get("name") or {}
        return DirectoryEntry(
            id=str(item.get("id", "")),
            primary_email=str(item.get("primaryEmail", "")).lower(),
            aliases=tuple(str(a).lower() for a in item.get("aliases") or ()),
            suspended=bool(item.get("suspended", False)),
            display_name=str(name.get("fullName", "")) if isinstance(name, dict) else "",
        )


@dataclass(frozen=True)
class DirectoryPage:
    users: list[DirectoryEntry]
    next_page: str | None


class GoogleUserDirectory:
    """Reads users of the Workspace customer; ``tokens`` act as a domain administrator.

    ``requests`` counts the Admin SDK requests sent (benchmarks and the matcher's budget).
    """

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        *,
        retry: RetryPolicy = errors.DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._retry = retry
        self._sleep = sleep
        self._http: Any = None
        self._service: Any = None
        self.requests = 0

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> GoogleUserDirectory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _users(self) -> Any:
        if self._service is None:
            from googleapiclient.discovery import build

            self._http = authorized_http(self._settings, self._tokens)
            self._service = build(
                "admin",
                "directory_v1",
                http=self._http,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self._settings.google_admin_url},
            )
        return self._service.users()

    def _run(self, request: Any) -> Any:
        self.requests += 1
        return errors.execute(request, policy=self._retry, sleep=self._sleep)

    def page(self, page_token: str | None = None, size: int = PAGE_SIZE) -> DirectoryPage:
        """One page of every live user of the customer (``ProviderDenied`` when the acting
        account is not an administrator or the scope is not delegated)."""
        params: dict[str, Any] = {
            "customer": "my_customer",
            "maxResults": max(1, min(size, PAGE_SIZE)),
            "orderBy": "email",
            "fields": _LIST_FIELDS,
        }
        if page_token:
            params["pageToken"] = page_token
        body = self._run(self._users().list(**params))
        return DirectoryPage(
            users=[DirectoryEntry.from_resource(u) for u in body.get("users", [])],
            next_page=body.get("nextPageToken") or None,
        )

    def find(self, key: str) -> DirectoryEntry | None:
        """The user with ``key`` as primary email, alias or user id; ``None`` when none."""
        try:
            body = self._run(self._users().get(userKey=checked(key), fields=_GET_FIELDS))
        except ProviderNotFound:
            return None
        return DirectoryEntry.from_resource(body)
