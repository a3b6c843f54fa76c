"""Matching host-app people to Entra ID users through Microsoft Graph (app-only).

Rules (issue 9; https://learn.microsoft.com/graph/api/user-list, https://learn.microsoft.com/graph/json-batching):

* Addresses are compared lower-cased on our side: Graph does not document whether ``eq`` on
  ``mail`` is case-insensitive.
* Precedence: ``mail``, then ``userPrincipalName``, then ``proxyAddresses`` (``smtp:`` entries,
  i.e. aliases). The first property with any hit decides; two users there are ``ambiguous``
  (never the first hit: another product syncs the wrong person that way).
* Guests (``userType`` Guest) are ``guest``; ``accountEnabled`` false is ``disabled``. Every
  other hit gets one mailbox probe (``GET /users/{id}/events?$top=1``): 404
  ``MailboxNotEnabledForRESTAPI`` is ``no_mailbox`` (unlicensed, on-premises, no Exchange
  Online mailbox) and 403 ``ErrorAccessDenied`` ("Access to OData is disabled.": an application
  access policy or RBAC for Applications scope) is ``outside_scope``.
* Fewest requests for the size: up to :attr:`GraphDirectory.list_above` people, one ``$filter``
  per person and property, 20 per ``$batch`` request (Graph's limit); above it, one paged
  listing of the directory (``$top=999``) matched locally. Mailbox probes go 20 per ``$batch``.
  ``mail eq`` and ``proxyAddresses/any(x:x eq 'smtp:...')`` work without
  ``ConsistencyLevel: eventual``, so no advanced-query header is needed.
* A throttled batch item is retried in the next batch after its ``Retry-After`` (short waits
  only; a long one raises ``Throttled`` for the caller to re-schedule).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from shared.errors import ProviderError, Throttled
from shared.providers.base import TokenSource
from shared.providers.microsoft.graph_http import PROVIDER, GraphHttp
from shared.providers.retry import parse_retry_after
from shared.providers.urls import segment
from shared.service.model import DirectoryUser, Match, MatchReason
from shared.settings import Settings

BATCH_LIMIT = 20  # https://learn.microsoft.com/graph/json-batching#batch-size-limitations
PAGE_SIZE = 999  # the maximum $top of /users
SELECT = "id,displayName,mail,userPrincipalName,proxyAddresses,userType,accountEnabled"
PROPERTIES = ("mail", "userPrincipalName", "proxyAddresses")
MAX_BATCH_ROUNDS = 4
MAX_ITEM_WAIT = 5.0
NO_MAILBOX_CODES = frozenset({"MailboxNotEnabledForRESTAPI", "MailboxNotSupportedForRESTAPI"})


def odata_string(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def filter_for(prop: str, email: str) -> str:
    if prop == "proxyAddresses":
        return f"proxyAddresses/any(x:x eq {odata_string('smtp:' + email)})"
    return f"{prop} eq {odata_string(email)}"


def _addresses(user: Mapping[str, Any], prop: str) -> set[str]:
    if prop == "proxyAddresses":
        out = set()
        for raw in user.get("proxyAddresses") or []:
            kind, _, address = str(raw).partition(":")
            if kind.lower() == "smtp" and address:
                out.add(address.lower())
        return out
    value = user.get(prop)
    return {str(value).lower()} if value else set()


class GraphDirectory:
    """Implements :class:`shared.service.ports.DirectoryMatcher` for one tenant."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        *,
        tenant_id: str,
        list_above: int = 200,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # App-only: a 403 is retried once with a fresh token, so User.Read.All consented a
        # moment ago takes effect at once.
        self._graph = GraphHttp(
            settings, tokens, mailbox=f"directory:{tenant_id}", refresh_on_forbidden=True
        )
        self.list_above = list_above
        self.requests = 0
        self._sleep = sleep

    # --- the seam ---------------------------------------------------------------------------

    def probe(self) -> None:
        """``GET /users?$top=1``: 403 ``Authorization_RequestDenied`` without ``User.Read.All``
        (or ``User.ReadBasic.All``) admin consent."""
        self.requests += 1
        self._graph.get_json("users", params={"$top": "1", "$select": "id"})

    def match(self, emails: Sequence[str]) -> dict[str, Match]:
        wanted = list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))
        if not wanted:
            return {}
        if len(wanted) > self.list_above:
            hits = self._hits_by_listing(wanted)
        else:
            hits = self._hits_by_filters(wanted)
        results: dict[str, Match] = {}
        candidates: dict[str, tuple[dict[str, Any], str]] = {}
        for email in wanted:
            prop, users = hits.get(email, ("", []))
            distinct = {str(u["id"]): u for u in users}
            if not distinct:
                results[email] = Match.unmatched(MatchReason.NOT_FOUND)
            elif len(distinct) > 1:
                results[email] = Match.unmatched(MatchReason.AMBIGUOUS, f"{len(distinct)} {prop}")
            else:
                user = next(iter(distinct.values()))
                if str(user.get("userType") or "Member").lower() == "guest":
                    results[email] = Match.unmatched(MatchReason.GUEST, prop)
                elif user.get("accountEnabled") is False:
                    results[email] = Match.unmatched(MatchReason.DISABLED, prop)
                else:
                    candidates[email] = (user, prop)
        probes = self.mailbox_reasons([str(u["id"]) for u, _ in candidates.values()])
        for email, (user, prop) in candidates.items():
            found = probes.get(str(user["id"]))
            if found is None:
                results[email] = Match.found(
                    DirectoryUser(
                        id=str(user["id"]),
                        email=str(user.get("mail") or user.get("userPrincipalName") or email),
                        display_name=str(user.get("displayName") or ""),
                    ),
                    prop,
                )
            else:
                results[email] = Match.unmatched(*found)
        return results

    # --- mailbox probes ---------------------------------------------------------------------

    def mailbox_reasons(self, user_ids: Iterable[str]) -> dict[str, tuple[MatchReason, str]]:
        """For each user id whose mailbox the app cannot read, the reason and Graph's code."""
        requests = {uid: f"/users/{segment(uid)}/events?$top=1&$select=id" for uid in user_ids}
        out: dict[str, tuple[MatchReason, str]] = {}
        for uid, (status, body) in self._batch(requests).items():
            if status < 400:
                continue
            code, message = _error(body)
            if code in NO_MAILBOX_CODES or status == 404:
                out[uid] = (MatchReason.NO_MAILBOX, code or str(status))
            elif status == 403:
                out[uid] = (MatchReason.OUTSIDE_SCOPE, f"{code}: {message}".strip(": "))
            else:
                raise ProviderError(
                    f"Graph mailbox probe: {status} {code}: {message}",
                    provider=PROVIDER,
                    provider_code=code or str(status),
                )
        return out

    # --- the two strategies -----------------------------------------------------------------

    def _hits_by_filters(self, emails: list[str]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
        hits: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        pending = emails
        for prop in PROPERTIES:
            if not pending:
                break
            requests = {
                e: "/users?$filter="
                + quote(filter_for(prop, e), safe="")
                + "&$select="
                + quote(SELECT, safe=",")
                for e in pending
            }
            left = []
            for email, (status, body) in self._batch(requests).items():
                if status >= 400:
                    code, message = _error(body)
                    raise _item_error(status, code, message)
                users = [u for u in body.get("value", []) if email in _addresses(u, prop)]
                if users:
                    hits[email] = (prop, users)
                else:
                    left.append(email)
            pending = left
        return hits

    def _hits_by_listing(self, emails: list[str]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
        index: dict[str, dict[str, list[dict[str, Any]]]] = {p: {} for p in PROPERTIES}
        url: str | None = "users"
        params: dict[str, str] | None = {"$select": SELECT, "$top": str(PAGE_SIZE)}
        while url is not None:
            self.requests += 1
            body = self._graph.get_json(url, params=params)
            for user in body.get("value", []):
                for prop in PROPERTIES:
                    for address in _addresses(user, prop):
                        index[prop].setdefault(address, []).append(user)
            url, params = body.get("@odata.nextLink"), None
        hits: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        for email in emails:
            for prop in PROPERTIES:
                if email in index[prop]:
                    hits[email] = (prop, index[prop][email])
                    break
        return hits

    # --- $batch -------------------------------------------------------------------------------

    def _batch(self, requests: Mapping[str, str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """GET each relative URL through ``$batch`` (20 per request); ``key -> (status, body)``.

        Items answered 429/503/504 are sent again (after their Retry-After, when short)."""
        out: dict[str, tuple[int, dict[str, Any]]] = {}
        pending = list(requests)
        for _ in range(MAX_BATCH_ROUNDS):
            if not pending:
                return out
            again: list[str] = []
            wait = 0.0
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start : start + BATCH_LIMIT]
                body = {
                    "requests": [
                        {"id": str(i), "method": "GET", "url": requests[key]}
                        for i, key in enumerate(chunk)
                    ]
                }
                self.requests += 1
                answer = self._graph.request("POST", "$batch", json=body).json()
                for item in answer.get("responses", []):
                    key = chunk[int(item["id"])]
                    status = int(item.get("status", 500))
                    if status in (429, 503, 504):
                        headers = {k.lower(): v for k, v in (item.get("headers") or {}).items()}
                        wait = max(wait, parse_retry_after(headers.get("retry-after"), 1.0, 600.0))
                        again.append(key)
                        continue
                    payload = item.get("body")
                    out[key] = (status, payload if isinstance(payload, dict) else {})
            if again and wait > MAX_ITEM_WAIT:
                raise Throttled(
                    "Graph throttled the directory lookup", provider=PROVIDER, retry_after=wait
                )
            if again:
                self._sleep(wait)
            pending = again
        raise Throttled(
            "Graph kept throttling the directory lookup",
            provider=PROVIDER,
            retry_after=MAX_ITEM_WAIT,
        )


def _error(body: Mapping[str, Any]) -> tuple[str, str]:
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")


def _item_error(status: int, code: str, message: str) -> ProviderError:
    from shared.errors import ProviderDenied, ProviderUnavailable

    detail = f"Graph directory lookup: {status} {code}: {message}"
    if status in (401, 403):
        return ProviderDenied(detail, provider=PROVIDER, provider_code=code, status_code=status)
    if status >= 500:
        return ProviderUnavailable(detail, provider=PROVIDER, provider_code=code)
    return ProviderError(detail, provider=PROVIDER, provider_code=code, status_code=status)
