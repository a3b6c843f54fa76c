"""Matching host-app people to Workspace users by email, with the fewest Admin SDK requests.

Rules: addresses compare lower-cased; a person's address matches a user's primary email first,
then an alias ("the user's email addresses, including aliases", Search for users guide); two
users at the same precedence are ``ambiguous`` (never pick one; Google keeps addresses unique
across a customer, so this guards against a directory in flux); a suspended user is
``suspended``; a deleted user is no longer listed, so ``not_found``. The match keeps the user's
immutable id: addresses change, the id does not.

Requests: a paged users.list costs one request per 500 users of the customer, a users.get one
per person. Neither size is known up front (the Admin SDK gives no user count), so the matcher
pages and estimates from what it has read: after ``k`` pages that resolved ``r`` people, the
``u`` still unresolved would cost about ``k * u / r`` more pages (people spread over the
directory as the users do) or ``u`` lookups; lookups win exactly when ``r < k``, fewer than one
person resolved per page read. It pages while each page pays for itself, then looks the rest up
one by one. At most about ``2 * people + 1`` requests, never many more than one full listing:
1,000 people cost 11 requests in a 5,000-user domain and 101 in a 50,000-user one; 20 people in
a 50,000-user domain about 21. ``bench/google_matching.py`` measures it.

The first page always comes from users.list, so a missing administrator right or delegation
shows there (``ProviderDenied``). A later users.get refused for one address (an address of
another customer) counts as not found for that person.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from shared.errors import ProviderDenied
from shared.providers.google.users import DirectoryEntry, DirectoryPage

Reason = Literal["not_found", "ambiguous", "suspended"]
Via = Literal["primaryEmail", "aliases"]


class UserLookup(Protocol):
    """What the matcher reads (:class:`~shared.providers.google.users.GoogleUserDirectory`)."""

    requests: int

    def page(self, page_token: str | None = None, size: int = ...) -> DirectoryPage: ...

    def find(self, key: str) -> DirectoryEntry | None: ...


@dataclass(frozen=True)
class GoogleMatch:
    """The outcome for one address: ``entry`` when matched, else ``reason``; ``via`` says which
    property matched (or what lies behind the reason)."""

    entry: DirectoryEntry | None
    reason: Reason | None
    via: str = ""

    @property
    def matched(self) -> bool:
        return self.entry is not None and self.reason is None


class _Index:
    """Addresses of the users seen so far, by precedence."""

    def __init__(self) -> None:
        self.primary: dict[str, dict[str, DirectoryEntry]] = {}
        self.alias: dict[str, dict[str, DirectoryEntry]] = {}

    def add(self, users: Iterable[DirectoryEntry]) -> None:
        for user in users:
            self.primary.setdefault(user.primary_email, {})[user.id] = user
            for alias in user.aliases:
                self.alias.setdefault(alias, {})[user.id] = user

    def outcome(self, address: str) -> GoogleMatch | None:
        for via, table in (("primaryEmail", self.primary), ("aliases", self.alias)):
            found = table.get(address)
            if found:
                return _judge(list(found.values()), via)
        return None


def _judge(users: list[DirectoryEntry], via: str) -> GoogleMatch:
    if len(users) > 1:
        return GoogleMatch(None, "ambiguous", via)
    user = users[0]
    if user.suspended:
        return GoogleMatch(user, "suspended", via)
    return GoogleMatch(user, None, via)


def match_addresses(lookup: UserLookup, emails: Sequence[str]) -> dict[str, GoogleMatch]:
    """The outcome for every given address (lower-cased keys), see the module docstring."""
    wanted = {e.strip().lower() for e in emails if e.strip()}
    results: dict[str, GoogleMatch] = {}
    if not wanted:
        return results
    index = _Index()
    token: str | None = None
    pages = 0
    complete = False
    while True:
        page = lookup.page(token)
        pages += 1
        index.add(page.users)
        for address in wanted - results.keys():
            found = index.outcome(address)
            if found is not None:
                results[address] = found
        token = page.next_page
        if token is None:
            complete = True
            break
        if len(results) < pages:
            break
    for address in sorted(wanted - results.keys()):
        if complete:
            results[address] = GoogleMatch(None, "not_found")
            continue
        try:
            user = lookup.find(address)
        except ProviderDenied:
            # The directory was readable (the first page proved it): a refusal for one
            # address means it belongs to no user of this customer.
            user = None
        if user is None:
            results[address] = GoogleMatch(None, "not_found")
        else:
            via = "primaryEmail" if user.primary_email == address else "aliases"
            results[address] = _judge([user], via)
    return results
