"""Occurrences of our own series, pulled: a person who moves or deletes one occurrence of a
host-app series is reported once, naming that occurrence by its original start.

The providers say which occurrence an item is: Graph's ``originalStart`` on exceptions
(https://learn.microsoft.com/graph/api/resources/event, ``originalStart``), Google's
``originalStartTime`` on instances, also on cancelled ones
(https://developers.google.com/workspace/calendar/api/guides/recurringevents). An occurrence is
judged against the host app's own rule (:func:`shared.recurrence.occurrences`), never against a
stored copy of the calendar: the rule must produce the original start (otherwise the host app
changed its series and the change is our own), and the times must differ from the rule's for a
move. Nothing is judged while a push of the series is pending (``settled``): the calendar then
shows a mix of the old and the new series.

Graph reports a deleted occurrence as ``@removed`` with its id alone, which does not name the
original start; such deletions are not reported (a known gap, see docs/sync-design.md).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import recurrence
from shared.providers.base import Change
from shared.sync.appevents import AppEvents, OccurrenceChange
from shared.sync.calendars import CalendarRef
from shared.sync.context import SyncContext
from shared.sync.pull_judge import OurEvent, load_ours

log = logging.getLogger(__name__)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def judge_occurrence(
    change: Change,
    ours: OurEvent,
    rule: str,
    zone: str,
    overrides: tuple[OccurrenceChange, ...] = (),
) -> tuple[str, dict[str, Any]] | None:
    """The notification one occurrence change calls for (pure), or ``None``. ``overrides``
    are the host app's own changes of single occurrences: what they say is not the person's."""
    original = change.original_start
    if original is None or not (ours.wanted and ours.settled):
        return None
    if ours.app_start is None or ours.app_end is None:
        return None
    try:
        expected = recurrence.occurrences(
            rule,
            ours.app_start,
            ours.app_end,
            zone,
            original - timedelta(seconds=1),
            original + timedelta(seconds=1),
        )
    except (recurrence.RuleError, ValueError):
        return None
    slot = next((pair for pair in expected if pair[0] == original.astimezone(UTC)), None)
    if slot is None:
        return None  # not an occurrence of the host app's current rule: our own change
    own = next((o for o in overrides if o.original_start == original.astimezone(UTC)), None)
    if own is not None:
        if own.start is None or own.end is None:
            return None  # the host app cancelled it
        slot = (own.start.astimezone(UTC), own.end.astimezone(UTC))
    data: dict[str, Any] = {
        "provider_event_id": change.series_id,
        "occurrence_id": change.id,
        "original_start": _iso(original),
    }
    if change.removed or change.is_cancelled:
        return "event_cancelled", data
    if change.start is None or change.end is None:
        return None
    if (change.start.astimezone(UTC), change.end.astimezone(UTC)) == slot:
        return None
    return "event_moved", {**data, "start": _iso(change.start), "end": _iso(change.end)}


def apply_occurrence(sctx: SyncContext, ref: CalendarRef, change: Change) -> int:
    """Report a person's change of one occurrence of our series ``change.series_id``; returns
    how many notifications were appended (0 for echoes and repeats)."""
    ours = load_ours(sctx, ref, change.series_id)
    if ours is None:
        return 0
    app = AppEvents(sctx.consent.tables).get(ours.org, ours.app_event)
    if app is None or not app.content.recurrence:
        return 0
    content = app.content
    verdict = judge_occurrence(
        change, ours, content.recurrence or "", content.time_zone, content.occurrences
    )
    if verdict is None:
        return 0
    kind, data = verdict
    payload = {
        "app_event": ours.app_event,
        "person": ours.person,
        "integration_id": ref.integration_id,
        "provider": ref.provider,
        **data,
    }
    # One fact per occurrence and, for a move, per new time: a replayed page or a later full
    # listing that shows the same exception again is not reported twice.
    parts = [ours.app_event, ours.person, change.series_id, data["original_start"], kind]
    key = "|".join([*parts, data.get("start", ""), data.get("end", "")])
    if sctx.consent.outbox.append(ours.org, kind, payload, dedupe_key=key) is None:
        return 0
    log.info("calendar %s: %s of one occurrence reported", ref.key, kind)
    return 1
