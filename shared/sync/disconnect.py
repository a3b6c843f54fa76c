"""What the sync engine forgets when a user disconnects their calendar.

Called (as a :class:`~shared.consent.connect.ConnectFlow` hook) while the connection's tokens
still exist, so the provider subscription or channel can be stopped, best effort. The calendar's
cursor and busy intervals go too: they describe a calendar the service may no longer read.
Mapping rows stay, so that reconnecting finds the service's own events instead of creating them
again.
"""

from __future__ import annotations

import logging
from contextlib import closing

from shared.consent.connections import Connection
from shared.consent.context import ConsentContext
from shared.errors import NotFound, ProviderError
from shared.integrations.model import Integration
from shared.sync import subscriptions
from shared.sync.busy import BusyStore
from shared.sync.calendars import CalendarRef, client_for
from shared.sync.cursors import CursorStore

log = logging.getLogger(__name__)


def forget_calendar(ctx: ConsentContext, integration: Integration, connection: Connection) -> None:
    ref = CalendarRef(
        connection.org, integration.id, integration.provider.value, connection.subject
    )
    try:
        with closing(client_for(ctx, ref)) as client:
            subscriptions.remove(ctx, ref, client)
    except (NotFound, ProviderError) as exc:
        # The subscription expires by itself; its notifications no longer resolve to a calendar.
        log.info("could not stop the subscription of %s at the provider: %s", ref.key, exc.code)
        subscriptions.remove(ctx, ref, None)
    CursorStore(ctx.tables).drop(ref.key)
    BusyStore(ctx.tables).clear(ref.key)
