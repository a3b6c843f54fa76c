"""Matching the host app's people to directory users, for one service integration.

Runs when the integration is created (or its credential fixed), when the host app puts
people (``PUT /orgs/{org}/people``: only the people it sent), and once a day for everyone
(people who joined the directory later, addresses that changed). The outcome of every person
is written to ``servicepeople``; a person's sync switch survives re-matching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.consent.context import ConsentContext
from shared.service.people_map import PersonMapping, ServicePeople
from shared.service.ports import DirectoryMatcher
from shared.sync.people import People, Person


@dataclass
class MatchReport:
    matched: int = 0
    unmatched: int = 0
    requests: int = 0
    # People whose directory user is new or changed: their calendar starts (or restarts) now.
    started: list[PersonMapping] = field(default_factory=list)
    # People who had a directory user and lost it (or got another): their old calendar stops.
    lost: list[PersonMapping] = field(default_factory=list)


def match_people(
    ctx: ConsentContext,
    org: str,
    integration_id: str,
    matcher: DirectoryMatcher,
    people: Sequence[Person] | None = None,
) -> MatchReport:
    """Match ``people`` (default: every person of ``org``) and record each outcome."""
    everyone = list(people) if people is not None else People(ctx.tables).for_org(org)
    store = ServicePeople(ctx.tables)
    before = {m.person: m for m in store.of_integration(org, integration_id)}
    emails = {p.id: p.email.strip().lower() for p in everyone}
    outcomes = matcher.match(sorted(set(emails.values())))
    report = MatchReport(requests=matcher.requests)
    now = ctx.clock.now()
    for person in everyone:
        email = emails[person.id]
        outcome = outcomes.get(email)
        if outcome is None:
            continue
        mapping = store.record_match(org, integration_id, person.id, email, outcome, now)
        old = before.get(person.id)
        if mapping.matched:
            report.matched += 1
            if old is None or old.directory_id != mapping.directory_id:
                report.started.append(mapping)
        else:
            report.unmatched += 1
        if old is not None and old.matched and old.directory_id != mapping.directory_id:
            report.lost.append(old)
    return report
