"""Erasing what a service integration leaves in the sync engine's tables.

Deleting a service integration removes, for every person it matched: the provider
subscription (stopped at the provider, best effort, while the credential still exists), the
calendar's cursor, busy intervals, event index, push markers, lease, pending sync request and
sync status, and every event mapping row of its calendars; then the people mappings and the
service settings row. The credential secret goes with the integration's secret prefix
(:class:`~shared.integrations.retention.RetentionPurge`).

Events the service created in people's calendars are kept unless the caller asks for their
removal (docs/decisions.md, "Service integrations"): they are the people's calendars, and
deleting many events at once sends cancellations to every attendee.
"""

from __future__ import annotations

import logging
from contextlib import closing

from shared.consent.context import ConsentContext
from shared.errors import NotFound, ProviderError
from shared.integrations.model import Integration, Kind
from shared.integrations.retention import Eraser
from shared.providers.base import CalendarClient
from shared.service.config import ServiceConfigs
from shared.service.people_map import ServicePeople
from shared.service.runtime import service_client
from shared.storage.bulk import delete_entities
from shared.storage.keys import encode_key
from shared.storage.tables import TableStore
from shared.sync import subscriptions
from shared.sync.busy import BUSY
from shared.sync.calendars import CalendarRef
from shared.sync.cursors import CURSORS
from shared.sync.health import SYNC_STATUS
from shared.sync.leases import LEASES
from shared.sync.mappings import EVENTINDEX, EVENTREFS, PUSHQUEUE
from shared.sync.requests import SYNC_REQUESTS

log = logging.getLogger(__name__)

# Tables partitioned by calendar key (``<integration id>:<encoded person>``).
CALENDAR_TABLES = (CURSORS, BUSY, EVENTINDEX, PUSHQUEUE, LEASES, SYNC_REQUESTS)


def _open(ctx: ConsentContext, integration: Integration, mailbox: str) -> CalendarClient | None:
    try:
        return service_client(ctx, integration, mailbox)
    except (NotFound, ProviderError) as exc:
        log.info("no client for a mailbox of %s: %s", integration.id, exc.code)
        return None


def _remove_events(ctx: ConsentContext, client: CalendarClient, calendar: str) -> int:
    removed = 0
    for e in ctx.tables.query(EVENTREFS, where={"calendar": calendar}):
        event_id = e.get_str("provider_event_id")
        if not event_id or e.get_str("state") not in ("active", "deleting"):
            continue
        try:
            client.delete_event(event_id)
            removed += 1
        except ProviderError as exc:
            log.info("removing an event of %s failed: %s", calendar, exc.code)
    return removed


def erase_calendar_rows(tables: TableStore, org: str, integration_id: str) -> int:
    """Delete every row kept per calendar of the integration; returns how many."""
    prefix = f"{integration_id}:"
    deleted = 0
    for table in CALENDAR_TABLES:
        rows = [e for e in tables.query(table) if e.partition_key.startswith(prefix)]
        deleted += delete_entities(tables, table, rows)
    refs = [e for e in tables.query(EVENTREFS) if e.get_str("calendar").startswith(prefix)]
    deleted += delete_entities(tables, EVENTREFS, refs)
    statuses = list(tables.query(SYNC_STATUS, encode_key(org), row_key_prefix=prefix))
    deleted += delete_entities(tables, SYNC_STATUS, statuses)
    return deleted


def erase_service(ctx: ConsentContext, integration: Integration, *, remove_events: bool) -> int:
    """Stop and forget everything of a service integration except its record and secrets."""
    people = ServicePeople(ctx.tables)
    deleted = 0
    for mapping in list(people.of_integration(integration.org, integration.id)):
        if not mapping.directory_id:
            continue
        ref = CalendarRef(
            integration.org,
            integration.id,
            integration.provider.value,
            mapping.person,
            mapping.directory_id,
        )
        client = _open(ctx, integration, mapping.directory_id)
        if client is None:
            deleted += int(subscriptions.remove(ctx, ref, None))
            continue
        with closing(client):
            if remove_events:
                _remove_events(ctx, client, ref.key)
            deleted += int(subscriptions.remove(ctx, ref, client))
    # Subscriptions of people matched earlier and unmatched since (no client any more).
    for sub in subscriptions.of_integration(ctx.tables, integration.id):
        ref = CalendarRef(sub.org, sub.integration_id, sub.provider, sub.person)
        deleted += int(subscriptions.remove(ctx, ref, None))
    deleted += erase_calendar_rows(ctx.tables, integration.org, integration.id)
    deleted += people.erase_integration(integration.org, integration.id)
    deleted += ServiceConfigs(ctx.tables, ctx.secrets).delete(integration.org, integration.id)
    return deleted


def eraser(ctx: ConsentContext) -> Eraser:
    """The retention purge's eraser for service integrations (events kept)."""

    def erase(integration: Integration) -> int:
        if integration.kind is not Kind.SERVICE:
            return 0
        return erase_service(ctx, integration, remove_events=False)

    return erase
