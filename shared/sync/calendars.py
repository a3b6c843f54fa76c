"""Which calendars the service syncs, and how to reach each one.

A :class:`CalendarRef` names one person's calendar under one integration:

* workspace integrations: a user's connection (delegated tokens, mailbox ``me``); the person is
  the connection's subject, i.e. the host app's user id (the ``sub`` of that user's token), which
  is also their id in ``PUT /orgs/{org}/people``;
* service integrations (app-only): a person matched by email with sync on (mailbox = the
  directory user's immutable id; :mod:`shared.service.runtime`).

A person synced by an enabled service integration is not synced through their workspace
connection as well: exactly one path writes their calendar (docs/decisions.md).

``ref.key`` (``<integration>:<encoded person>``) is the partition key of everything kept per
calendar (cursor, busy intervals, lease, subscription) and the body of a sync queue message.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.consent.connect import connection_tokens
from shared.consent.connections import Connection, ConnectionStatus
from shared.consent.context import ConsentContext
from shared.errors import NotFound
from shared.integrations.model import Integration, Kind, Status
from shared.providers.base import CalendarClient
from shared.service.people_map import ServicePeople
from shared.service.runtime import covered_people, is_covered, service_client, synced_people
from shared.storage.keys import decode_key, encode_key


@dataclass(frozen=True)
class CalendarRef:
    org: str
    integration_id: str
    provider: str
    person: str  # the host app's person id (= the connection's subject for workspace)
    mailbox: str = "me"

    @property
    def key(self) -> str:
        return f"{self.integration_id}:{encode_key(self.person)}"

    def message(self) -> dict[str, str]:
        """The sync queue message for this calendar."""
        return {"org": self.org, "calendar": self.key}


def parse_key(key: str) -> tuple[str, str]:
    integration_id, _, person = key.partition(":")
    return integration_id, decode_key(person)


def calendars_of(ctx: ConsentContext, integration: Integration) -> list[CalendarRef]:
    """The calendars of an enabled integration that can be synced right now."""
    if integration.status is not Status.ENABLED:
        return []
    if integration.kind is Kind.WORKSPACE:
        covered = covered_people(ctx, integration.org)
        return [
            CalendarRef(integration.org, integration.id, integration.provider.value, c.subject)
            for c in ctx.connections.for_integration(integration.org, integration.id)
            if c.status is ConnectionStatus.CONNECTED and c.subject not in covered
        ]
    return [
        CalendarRef(
            integration.org,
            integration.id,
            integration.provider.value,
            m.person,
            mailbox=m.directory_id or "",
        )
        for m in synced_people(ctx, integration)
    ]


def all_calendars(ctx: ConsentContext) -> list[CalendarRef]:
    """Every syncable calendar of every organisation (the 5-minute cycle's fan-out)."""
    return [ref for i in ctx.integrations.list_all() for ref in calendars_of(ctx, i)]


def resolve(ctx: ConsentContext, org: str, key: str) -> CalendarRef:
    """The calendar a queue message names; ``NotFound`` when it no longer syncs."""
    return resolve_rows(ctx, org, key)[0]


def resolve_rows(
    ctx: ConsentContext, org: str, key: str
) -> tuple[CalendarRef, Integration, Connection | None]:
    """The calendar a queue message names with its integration and (workspace) connection rows,
    for :func:`client_for`, so a run reads them once; ``NotFound`` when it no longer syncs.

    Two point reads (integration, connection): a worker must not scan its organisation's
    connections to find its one calendar.
    """
    integration_id, person = parse_key(key)
    integration = ctx.integrations.get(org, integration_id)
    if integration.status is Status.ENABLED and integration.kind is Kind.WORKSPACE:
        connection = ctx.connections.get(org, integration_id, person)
        if (
            connection is not None
            and connection.status is ConnectionStatus.CONNECTED
            and not is_covered(ctx, org, person)
        ):
            ref = CalendarRef(org, integration.id, integration.provider.value, person)
            return ref, integration, connection
    if integration.status is Status.ENABLED and integration.kind is Kind.SERVICE:
        mapping = ServicePeople(ctx.tables).get(org, integration_id, person)
        if mapping is not None and mapping.syncs and mapping.directory_id:
            ref = CalendarRef(
                org, integration.id, integration.provider.value, person, mapping.directory_id
            )
            return ref, integration, None
    raise NotFound(f"calendar {key} is not connected", code="calendar_not_connected")


def person_calendar(ctx: ConsentContext, org: str, person: str) -> CalendarRef | None:
    """The calendar of a host-app person under the organisation's enabled integrations."""
    for integration in ctx.integrations.for_org(org):
        for ref in calendars_of(ctx, integration):
            if ref.person == person:
                return ref
    return None


def client_for(
    ctx: ConsentContext,
    ref: CalendarRef,
    rows: tuple[Integration, Connection | None] | None = None,
) -> CalendarClient:
    """A calendar client for ``ref`` with the right tokens. Close it after use. ``rows``: the
    integration and connection the caller read already (:func:`resolve_rows`)."""
    integration = rows[0] if rows is not None else ctx.integrations.get(ref.org, ref.integration_id)
    if integration.kind is Kind.SERVICE:
        if ref.mailbox == "me" or not ref.mailbox:
            raise NotFound(f"calendar {ref.key} has no mailbox", code="calendar_not_connected")
        return service_client(ctx, integration, ref.mailbox)
    connection = (
        rows[1]
        if rows is not None
        else ctx.connections.get(ref.org, ref.integration_id, ref.person)
    )
    if connection is None:
        raise NotFound(f"calendar {ref.key} is not connected", code="calendar_not_connected")
    tokens = connection_tokens(ctx, integration, connection)
    # The person's directory id keys Graph's per-mailbox concurrency cap, the same key a
    # service integration's client of this mailbox uses (4 per app per mailbox, both paths).
    return ctx.kit.calendar(
        ref.provider, tokens, user=ref.mailbox, mailbox_key=connection.user_id or None
    )
