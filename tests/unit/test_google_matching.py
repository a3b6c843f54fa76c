"""Matching people to Workspace users: precedence, reasons and the request budget, over a
directory of our own (another implementation of the matcher's ``UserLookup``)."""

from __future__ import annotations

from shared.errors import ProviderDenied
from shared.providers.google.matching import match_addresses
from shared.providers.google.users import DirectoryEntry, DirectoryPage


class Directory:
    """Users sorted by primary email, paged like users.list; ``find`` like users.get."""

    def __init__(self, users: list[DirectoryEntry], *, page_size: int = 500) -> None:
        self.users = sorted(users, key=lambda u: u.primary_email)
        self.page_size = page_size
        self.requests = 0
        self.pages = 0
        self.finds: list[str] = []
        self.refused: set[str] = set()

    def page(self, page_token: str | None = None, size: int = 500) -> DirectoryPage:
        self.requests += 1
        self.pages += 1
        start = int(page_token or 0)
        end = start + self.page_size
        return DirectoryPage(self.users[start:end], str(end) if end < len(self.users) else None)

    def find(self, key: str) -> DirectoryEntry | None:
        self.requests += 1
        self.finds.append(key)
        if key in self.refused:
            raise ProviderDenied("not this customer", provider="google", provider_code="forbidden")
        return next(
            (u for u in self.users if key == u.primary_email or key in u.aliases or key == u.id),
            None,
        )


def user(n: int, *, aliases: tuple[str, ...] = (), suspended: bool = False) -> DirectoryEntry:
    return DirectoryEntry(str(1000 + n), f"u{n:05d}@x.example", aliases, suspended)


def test_primary_email_wins_over_an_alias_and_case_does_not_matter() -> None:
    ann = DirectoryEntry("1", "ann@x.example", ("annie@x.example",))
    bo = DirectoryEntry("2", "bo@x.example", ("b@x.example",))
    people = ["ANN@x.example", " annie@X.example", "b@x.example"]
    found = match_addresses(Directory([ann, bo]), people)
    assert {a: (m.entry.id if m.entry else None, m.via) for a, m in found.items()} == {
        "ann@x.example": ("1", "primaryEmail"),
        "annie@x.example": ("1", "aliases"),
        "b@x.example": ("2", "aliases"),
    }


def test_two_users_holding_one_address_are_ambiguous_and_suspended_users_are_named() -> None:
    one = DirectoryEntry("1", "one@x.example", ("desk@x.example",))
    two = DirectoryEntry("2", "two@x.example", ("desk@x.example",))
    off = DirectoryEntry("3", "off@x.example", suspended=True)
    found = match_addresses(Directory([one, two, off]), ["desk@x.example", "off@x.example"])
    assert (found["desk@x.example"].reason, found["desk@x.example"].entry) == ("ambiguous", None)
    assert (found["off@x.example"].reason, found["off@x.example"].matched) == ("suspended", False)


def test_a_directory_holding_the_people_is_paged_through() -> None:
    directory = Directory([user(n) for n in range(5000)])
    people = [f"u{n:05d}@x.example" for n in range(0, 5000, 5)]  # 1,000 people
    found = match_addresses(directory, [*people, "gone@x.example"])
    assert directory.requests == 10
    assert directory.finds == []
    assert sum(m.matched for m in found.values()) == 1000
    assert found["gone@x.example"].reason == "not_found"


def test_few_people_in_a_large_directory_are_looked_up_one_by_one() -> None:
    directory = Directory([user(n) for n in range(50_000)])
    people = [f"u{n:05d}@x.example" for n in (7, 20_000, 49_999)] + ["gone@x.example"]
    found = match_addresses(directory, people)
    # page 1 resolves u00007 (1 per page: keep paging); page 2 resolves none: look up the rest.
    assert (directory.pages, len(directory.finds)) == (2, 3)
    assert [found[p].reason for p in people] == [None, None, None, "not_found"]


def test_an_address_of_another_customer_is_not_found_rather_than_a_failed_run() -> None:
    directory = Directory([user(n) for n in range(2000)])
    directory.refused.add("eve@elsewhere.example")
    found = match_addresses(directory, ["eve@elsewhere.example", "u01999@x.example"])
    assert found["eve@elsewhere.example"].reason == "not_found"
    assert found["u01999@x.example"].matched


def test_nothing_to_match_costs_nothing() -> None:
    directory = Directory([user(1)])
    assert match_addresses(directory, ["", "  "]) == {}
    assert directory.requests == 0
