"""Live calendar reads: a user's agenda and attached app data, people's availability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator

from shared.errors import BadRequest
from shared.http.api import ApiBlueprint, ApiRequest, Reply
from shared.http.flows import consent_context
from shared.http.limits import MAX_ID, time_field
from shared.providers.urls import check_event_id
from shared.sync.agenda import agenda, attach_app_data, availability
from shared.sync.appdata import MAX_BYTES as APPDATA_MAX_BYTES
from shared.sync.appdata import encode_data

bp = ApiBlueprint("calendar")

MAX_AGENDA_DAYS = 62
MAX_AVAILABILITY_DAYS = 62
MAX_PEOPLE = 100
DEFAULT_DAYS = 7


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("give a time zone offset (e.g. 2025-01-31T09:00:00Z)")
    return value.astimezone(UTC) if value is not None else None


class WindowQuery(BaseModel):
    start: datetime | None = time_field("Window start; default now", default=None)
    end: datetime | None = time_field("Window end; default start + 7 days", default=None)

    _tz = field_validator("start", "end")(_aware)


def _window(query: WindowQuery, now: datetime, max_days: int) -> tuple[datetime, datetime]:
    start = query.start or now
    end = query.end or start + timedelta(days=DEFAULT_DAYS)
    if end <= start:
        raise BadRequest("end must be after start", code="invalid_window")
    if end - start > timedelta(days=max_days):
        raise BadRequest(f"the window is at most {max_days} days", code="window_too_large")
    return start, end


class AttendeeItem(BaseModel):
    name: str
    email: str
    response: str
    kind: str


class AgendaEvent(BaseModel):
    id: str
    subject: str
    start: datetime
    end: datetime
    is_all_day: bool
    time_zone: str | None = Field(
        default=None, description="The IANA zone the event was created in (times are UTC)"
    )
    location: str
    organizer: str
    show_as: str
    web_link: str
    attendees: list[AttendeeItem]
    app_data: dict[str, Any] | None = Field(
        default=None, description="The host app's data attached to this event"
    )
    created_by_service: bool = Field(description="The service put this event in the calendar")
    app_event: str | None = Field(default=None, description="The host-app event it carries")


class Agenda(BaseModel):
    start: datetime
    end: datetime
    items: list[AgendaEvent]


@bp.api(
    "orgs/{org}/me/events",
    name="get_my_events",
    auth="user",
    summary="The caller's agenda, read live with their own connection (at most 62 days), with "
    "attendees and the host app's attached data",
    query=WindowQuery,
    response=Agenda,
)
def get_my_events(request: ApiRequest) -> Agenda:
    ctx = consent_context(request.services)
    start, end = _window(request.query, ctx.clock.now(), MAX_AGENDA_DAYS)
    items = agenda(ctx, request.route["org"], request.require_caller().subject, start, end)
    return Agenda(
        start=start,
        end=end,
        items=[
            AgendaEvent(
                id=i.event.id,
                subject=i.event.subject,
                start=i.event.start.astimezone(UTC),
                end=i.event.end.astimezone(UTC),
                is_all_day=i.event.is_all_day,
                time_zone=i.event.time_zone or None,
                location=i.event.location,
                organizer=i.event.organizer,
                show_as=i.event.show_as,
                web_link=i.event.web_link,
                attendees=[
                    AttendeeItem(name=a.name, email=a.email, response=a.response, kind=a.kind)
                    for a in i.event.attendees
                ],
                app_data=i.app_data,
                created_by_service=i.created_by_service,
                app_event=i.app_event,
            )
            for i in items
        ],
    )


class AppDataBody(BaseModel):
    data: dict[str, Any] = Field(
        description=f"The host app's JSON object (at most {APPDATA_MAX_BYTES // 1024} KiB as "
        "compact UTF-8 JSON)"
    )


@bp.api(
    "orgs/{org}/me/events/{event}/app-data",
    name="put_my_event_app_data",
    methods=("PUT",),
    auth="user",
    summary="Attach the host app's data to an event of the caller's calendar (checked live)",
    body=AppDataBody,
    status=204,
)
def put_my_event_app_data(request: ApiRequest) -> Reply:
    body: AppDataBody = request.body
    # 400 app_data_too_large before the live calendar read: an oversized body costs no
    # provider call.
    encode_data(body.data)
    ctx = consent_context(request.services)
    attach_app_data(
        ctx,
        request.route["org"],
        request.require_caller().subject,
        check_event_id(request.route["event"]),
        body.data,
    )
    return Reply(status=204)


class AvailabilityQuery(WindowQuery):
    people: str = Field(
        description=f"Comma-separated host-app person ids (at most {MAX_PEOPLE})",
        min_length=1,
        max_length=MAX_PEOPLE * (MAX_ID + 1),
    )


class BusyItem(BaseModel):
    start: datetime
    end: datetime
    show_as: str
    source: str = Field(description="calendar (an external event) or host_app (its own event)")
    app_event: str | None = None
    time_zone: str | None = Field(
        default=None, description="The IANA zone the event was created in (times are UTC)"
    )


class Interval(BaseModel):
    start: datetime
    end: datetime


class PersonAvailabilityView(BaseModel):
    person: str
    status: str = Field(description="known (a calendar is connected) or unknown")
    busy: list[BusyItem]
    merged: list[Interval] = Field(description="The union of the busy intervals")


class Availability(BaseModel):
    start: datetime
    end: datetime
    people: list[PersonAvailabilityView]


@bp.api(
    "orgs/{org}/availability",
    name="get_availability",
    auth="service",
    summary="Busy intervals per person for scheduling: kept busy intervals of external events "
    "plus the host app's own events",
    query=AvailabilityQuery,
    response=Availability,
)
def get_availability(request: ApiRequest) -> Availability:
    query: AvailabilityQuery = request.query
    ctx = consent_context(request.services)
    start, end = _window(query, ctx.clock.now(), MAX_AVAILABILITY_DAYS)
    people = [p.strip() for p in query.people.split(",") if p.strip()]
    if not people or len(people) > MAX_PEOPLE:
        raise BadRequest(f"name between 1 and {MAX_PEOPLE} people", code="invalid_people")
    found = availability(ctx, request.route["org"], people, start, end)
    return Availability(
        start=start,
        end=end,
        people=[
            PersonAvailabilityView(
                person=p.person,
                status=p.status,
                busy=[
                    BusyItem(
                        start=b.start.astimezone(UTC),
                        end=b.end.astimezone(UTC),
                        show_as=b.show_as,
                        source=b.source,
                        app_event=b.app_event,
                        time_zone=b.time_zone or None,
                    )
                    for b in p.busy
                ],
                merged=[Interval(start=s, end=e) for s, e in p.merged],
            )
            for p in found
        ],
    )
