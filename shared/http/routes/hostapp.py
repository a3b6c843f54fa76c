"""Host-app routes (role ``service``): its people, and its events pushed to their calendars.

``PUT /orgs/{org}/events/{app_event}`` stores the event (a new version only when the content
changed, so a retried request is harmless), then pushes it to every affected person's calendar
within the request; a throttling or slow provider turns that person's outcome into ``queued``
(a sync message delayed by ``Retry-After`` finishes it). ``DELETE`` cancels it the same way.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from shared import recurrence, timezones
from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.http.flows import service_integrations, sync_context
from shared.http.limits import MAX_EVENT_DURATION, MAX_ID, time_field
from shared.sync.appevents import AppEvent, AppEvents, EventContent, OccurrenceChange
from shared.sync.people import MAX_PEOPLE_PER_PUT, People, Person
from shared.sync.push import PersonOutcome, calendars_by_person, push_event_now

bp = ApiBlueprint("host-app")
_ID = Field(min_length=1, max_length=MAX_ID)
MAX_ATTENDEES = 500


class PersonIn(BaseModel):
    id: str = _ID
    name: str = Field(default="", max_length=200)
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")


class PeopleIn(BaseModel):
    people: list[PersonIn] = Field(max_length=MAX_PEOPLE_PER_PUT)


class PersonCalendar(BaseModel):
    id: str
    calendar: bool = Field(description="The person has a connected calendar")
    provider: str | None = None


class PeopleResult(BaseModel):
    stored: int
    with_calendar: int
    people: list[PersonCalendar]


@bp.api(
    "orgs/{org}/people",
    name="put_people",
    methods=("PUT",),
    auth="service",
    summary="Create or update the host app's people (up to 1000 per request)",
    body=PeopleIn,
    response=PeopleResult,
)
def put_people(request: ApiRequest) -> PeopleResult:
    body: PeopleIn = request.body
    org = request.route["org"]
    sctx = sync_context(request.services)
    people = [Person(org, p.id, p.name, p.email) for p in body.people]
    stored = People(sctx.consent.tables).put_many(org, people, sctx.consent.clock.now())
    # Service integrations match the people just put (new addresses, new people) and start
    # the calendars of new matches at once.
    service_integrations(request.services).people_changed(org, people)
    calendars = calendars_by_person(sctx.consent, org)
    seen = list(dict.fromkeys(p.id for p in body.people))
    items = [
        PersonCalendar(
            id=pid,
            calendar=pid in calendars,
            provider=calendars[pid].provider if pid in calendars else None,
        )
        for pid in seen
    ]
    return PeopleResult(stored=stored, with_calendar=sum(i.calendar for i in items), people=items)


class OccurrenceIn(BaseModel):
    """A change of one occurrence of a series: new times, or cancelled."""

    original_start: AwareDatetime = Field(description="The occurrence's start in the rule")
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    cancelled: bool = False

    @model_validator(mode="after")
    def _times_or_cancelled(self) -> OccurrenceIn:
        if self.cancelled != (self.start is None and self.end is None):
            raise ValueError("give start and end, or cancelled: true")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class EventIn(BaseModel):
    subject: str = Field(min_length=1, max_length=255)
    body: str = Field(default="", max_length=32_000)
    location: str = Field(default="", max_length=255)
    start: AwareDatetime = time_field("When the event starts")
    end: AwareDatetime = time_field(
        f"When it ends: after start, at most {MAX_EVENT_DURATION.days} days later"
    )
    people: list[str] = Field(
        max_length=MAX_ATTENDEES,
        description=f"Host-app person ids (1 to {MAX_ID} characters each)",
    )
    room: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    recurrence: str | None = Field(
        default=None,
        max_length=255,
        description="A series: one RRULE both calendars can express (FREQ DAILY, WEEKLY, "
        "MONTHLY or YEARLY; INTERVAL; BYDAY weekdays, or one 1TU..4TU/-1TU for monthly and "
        "yearly; BYMONTHDAY; BYMONTH; COUNT or UNTIL=YYYYMMDD). start/end are the first "
        "occurrence.",
    )
    time_zone: str = Field(
        default="UTC",
        max_length=64,
        description="The event's IANA time zone: occurrences keep their wall-clock time in it",
    )
    all_day: bool = Field(
        default=False, description="Whole days: start and end are midnights in time_zone"
    )
    occurrences: list[OccurrenceIn] = Field(
        default_factory=list,
        max_length=200,
        description="Changes of single occurrences of the series (moved or cancelled), each "
        "named by its original start",
    )

    @field_validator("time_zone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        if not timezones.is_iana(value):
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value

    @field_validator("recurrence")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return recurrence.parse(value).rrule()
        except recurrence.RuleError as exc:
            raise ValueError(f"recurrence: {exc}") from exc

    @model_validator(mode="after")
    def _occurrences_of_the_rule(self) -> EventIn:
        if self.occurrences and not self.recurrence:
            raise ValueError("occurrences: only a series (recurrence) has occurrences")
        for item in self.occurrences:
            produced = recurrence.occurrences(
                self.recurrence or "",
                self.start,
                self.end,
                self.time_zone,
                item.original_start - timedelta(seconds=1),
                item.original_start + timedelta(seconds=1),
            )
            if not any(begin == item.original_start for begin, _ in produced):
                raise ValueError(
                    f"occurrences: {item.original_start.isoformat()} is not an occurrence "
                    "of the rule"
                )
        return self

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.all_day:
            zone = timezones.zone(self.time_zone)
            for moment in (self.start, self.end):
                if moment.astimezone(zone).timetz().replace(tzinfo=None) != time(0):
                    raise ValueError("an all-day event starts and ends at midnight in time_zone")
        if self.end - self.start > MAX_EVENT_DURATION:
            raise ValueError(f"an event lasts at most {MAX_EVENT_DURATION.days} days")
        if any(not p or len(p) > MAX_ID for p in self.people):
            raise ValueError(f"person ids are 1 to {MAX_ID} characters")
        return self


class EventView(BaseModel):
    id: str
    subject: str
    start: datetime
    end: datetime
    people: list[str]
    room: str | None = None
    recurrence: str | None = None
    time_zone: str = "UTC"
    all_day: bool = False
    status: str
    version: int
    updated_at: datetime


class PersonPush(BaseModel):
    person: str
    status: str = Field(description="synced, queued, no_calendar or failed")
    action: str | None = Field(
        default=None,
        description="created, updated, deleted, unchanged, or gone (deleted by "
        "the person in their calendar; not re-created until the event changes again)",
    )
    provider: str | None = None
    provider_event_id: str | None = None
    delay_seconds: int | None = Field(
        default=None, description="queued: when the retry runs (the provider's Retry-After)"
    )
    error: str | None = None


class EventResult(BaseModel):
    event: EventView
    people: list[PersonPush]


def _view(event: AppEvent) -> EventView:
    c = event.content
    return EventView(
        id=event.id,
        subject=c.subject,
        start=c.start,
        end=c.end,
        people=list(c.people),
        room=c.room,
        recurrence=c.recurrence,
        time_zone=c.time_zone,
        all_day=c.all_day,
        status=event.status.value,
        version=event.version,
        updated_at=event.updated_at,
    )


def _push(o: PersonOutcome) -> PersonPush:
    return PersonPush(
        person=o.person,
        status=o.status.value,
        action=o.action or None,
        provider=o.provider or None,
        provider_event_id=o.provider_event_id or None,
        delay_seconds=o.delay_seconds,
        error=o.error or None,
    )


@bp.api(
    "orgs/{org}/events/{app_event}",
    name="put_event",
    methods=("PUT",),
    auth="service",
    summary="Create or change a host-app event and push it to its people's calendars now",
    body=EventIn,
    response=EventResult,
)
def put_event(request: ApiRequest) -> Reply:
    body: EventIn = request.body
    org, app_event = request.route["org"], request.route["app_event"]
    sctx = sync_context(request.services)
    content = EventContent(
        subject=body.subject,
        body=body.body,
        location=body.location,
        start=body.start,
        end=body.end,
        people=tuple(body.people),
        room=body.room,
        recurrence=body.recurrence,
        time_zone=body.time_zone,
        all_day=body.all_day,
        occurrences=tuple(
            OccurrenceChange(o.original_start, o.start, o.end) for o in body.occurrences
        ),
    )
    stored = AppEvents(sctx.consent.tables).put(org, app_event, content, sctx.consent.clock.now())
    outcomes = push_event_now(sctx, org, app_event)
    result = EventResult(event=_view(stored.event), people=[_push(o) for o in outcomes])
    return Reply(status=201 if stored.created else 200, body=result)


@bp.api(
    "orgs/{org}/events/{app_event}",
    name="delete_event",
    methods=("DELETE",),
    auth="service",
    summary="Cancel a host-app event and remove it from its people's calendars now",
    response=EventResult,
)
def delete_event(request: ApiRequest) -> EventResult:
    org, app_event = request.route["org"], request.route["app_event"]
    sctx = sync_context(request.services)
    stored = AppEvents(sctx.consent.tables).cancel(org, app_event, sctx.consent.clock.now())
    outcomes = push_event_now(sctx, org, app_event)
    return EventResult(event=_view(stored.event), people=[_push(o) for o in outcomes])
