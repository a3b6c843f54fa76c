"""The push planner: one pure decision per (host-app event, person).

:func:`plan` compares what the host app wants in one person's calendar (:class:`Desired`) with
the mapping row and the pending create attempt, and returns the one :class:`Action` that moves
the calendar towards it. The executor in :mod:`shared.sync.push` performs it.

Rules the planner encodes (each tested in tests/unit/test_push_planner.py):

* **Idempotent creates.** The create key is SHA-256 of ``org|app_event|person`` (generation 0),
  with ``|<generation>`` appended for re-creations. Graph dedupes a repeated ``transactionId``
  and Google a repeated client-supplied id, so a crash between the provider's write and ours
  makes the retry return the same event instead of a second one.
* **Unknown create outcomes.** The marker records the key before a create is sent. If the plan
  is to create with that same key again, the provider may answer with the event of the earlier
  attempt, whose content may be older: ``refresh`` asks the executor to update it right away. If
  the event is no longer wanted, ``reclaim`` creates with that key (returning the orphan, if the
  earlier attempt landed) and deletes it, so no orphan survives.
* **The host app owns its events' time and title.** Updates are sent with ``If-Match``; when the
  person edited the event in their calendar the executor re-reads it and applies the host app's
  version anyway (it never overwrites blindly with a stale change key).
* **A deletion in the calendar is respected.** When the person deletes our event (seen by pull,
  or by an update answered "not found"), the row becomes ``gone`` with the host-app version of
  that moment. The event is created again (next generation, a fresh key, since Graph or Google
  may still remember the old one) only for a later host-app version: the host app changed the
  event after the deletion was seen.
* **Deletes**: "already gone" at the provider counts as done. A row whose delete intent is
  recorded (``deleting``) is deleted before anything else, even when the event is wanted again
  (then created with the next key): another writer may be sending that delete right now.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from shared.storage.keys import join_key
from shared.sync.mappings import EventRef, RefState


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RECLAIM = "reclaim"  # create with a possibly-used key, then delete: no orphan survives
    FORGET = "forget"  # nothing at the provider, nothing wanted, no row: drop the marker
    NOOP = "noop"  # the calendar already holds what is wanted (or a deletion is respected)


@dataclass(frozen=True)
class Desired:
    """What the host app wants in one person's calendar for one of its events."""

    org: str
    app_event: str
    person: str
    calendar: str  # the calendar key the push goes to
    version: int
    wanted: bool  # the event is active and the person is assigned


@dataclass(frozen=True)
class Attempt:
    """A create sent earlier whose outcome was not recorded (from the push marker)."""

    key: str
    generation: int


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    key: str = ""  # CREATE, RECLAIM: the idempotency key
    generation: int = 0  # CREATE, RECLAIM: the mapping generation the key belongs to
    provider_event_id: str = ""  # UPDATE, DELETE
    if_match: str = ""  # UPDATE: the change key we last wrote or saw
    refresh: bool = False  # CREATE: an earlier attempt may answer; update it to this version


def idempotency_key(org: str, app_event: str, person: str, generation: int = 0) -> str:
    """SHA-256 (hex) of ``org|app_event|person`` (``|<generation>`` after the first)."""
    parts = [org, app_event, person] + ([str(generation)] if generation else [])
    return hashlib.sha256(join_key(*parts).encode("utf-8")).hexdigest()


def plan(desired: Desired, mapping: EventRef | None, attempt: Attempt | None = None) -> Action:
    """The one action that moves this person's calendar towards ``desired``. Pure."""
    if mapping is not None and mapping.live and mapping.calendar == desired.calendar:
        if not desired.wanted or mapping.state is RefState.DELETING:
            # A delete, once its intent is recorded, is finished before anything else: the
            # writer that recorded it (no lease on the real-time path) may still be sending it.
            # Writing the event again in place would race that delete (the row would say
            # active over an event it then deletes). Wanted again: created anew afterwards.
            return Action(ActionKind.DELETE, provider_event_id=mapping.provider_event_id)
        if desired.version > mapping.pushed_version:
            return Action(
                ActionKind.UPDATE,
                provider_event_id=mapping.provider_event_id,
                if_match=mapping.change_key,
            )
        return Action(ActionKind.NOOP)
    # Nothing of ours is recorded in this calendar: a tombstone, a row of another calendar
    # (the organisation switched suites) or no row at all.
    generation = 0 if mapping is None else mapping.generation + 1
    key = idempotency_key(desired.org, desired.app_event, desired.person, generation)
    pending = attempt is not None and (attempt.key, attempt.generation) == (key, generation)
    respected = (
        mapping is not None
        and mapping.state is RefState.GONE
        and mapping.calendar == desired.calendar
        and desired.version <= mapping.pushed_version
    )
    if desired.wanted and not respected:
        return Action(ActionKind.CREATE, key=key, generation=generation, refresh=pending)
    if pending:
        return Action(ActionKind.RECLAIM, key=key, generation=generation)
    return Action(ActionKind.FORGET if mapping is None else ActionKind.NOOP)
