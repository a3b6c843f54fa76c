"""Graph series in the simulator: patternedRecurrence masters expanded by calendarView,
calendarView/delta and /instances; exceptions and cancelled occurrences; ending a series early;
all-day events; Windows and IANA zone names (wall-clock time held across DST)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dateutil import rrule

from tests.simulator import graph_support
from tests.simulator.graph_support import GraphSim, Org

graph_sim = graph_support.graph_sim
org = graph_support.org

MARCH = {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-04-15T00:00:00Z"}


def weekly(days: list[str], start_date: str, **span: Any) -> dict[str, Any]:
    return {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": days},
        "range": {"type": "noEnd", "startDate": start_date, **span},
    }


def series_body(
    recurrence: dict[str, Any], zone: str = "W. Europe Standard Time"
) -> dict[str, Any]:
    return {
        "subject": "Stand-up",
        "start": {"dateTime": "2030-03-04T09:00:00", "timeZone": zone},
        "end": {"dateTime": "2030-03-04T09:30:00", "timeZone": zone},
        "recurrence": recurrence,
    }


def _view(http: httpx.Client, base: str, window: dict[str, str] = MARCH) -> list[dict[str, Any]]:
    response = http.get(f"{base}/calendarView", params={**window, "$top": "500"})
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


def _delta(
    http: httpx.Client, url: str, params: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], str]:
    items: list[dict[str, Any]] = []
    response = http.get(url, params=params, headers={"Prefer": "odata.maxpagesize=50"})
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["value"]
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"]
        response = http.get(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=50"})


def test_weekly_series_expands_in_the_window_at_0900_local_across_dst(
    graph_sim: GraphSim, org: Org
) -> None:
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        base = f"/users/{org.alice.id}"
        master = http.post(f"{base}/events", json=series_body(weekly(["monday"], "2030-03-04")))
        assert master.status_code == 201, master.text
        master_body = master.json()
        assert master_body["type"] == "seriesMaster"
        assert master_body["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
        seen = _view(http, base)
        assert {e["type"] for e in seen} == {"occurrence"}
        assert {e["seriesMasterId"] for e in seen} == {master_body["id"]}
        # Mondays 4 March .. 14 April 2030; Europe switches to summer time on 31 March.
        starts = [e["start"]["dateTime"][:16] for e in seen]
        assert starts == [
            "2030-03-04T08:00",
            "2030-03-11T08:00",
            "2030-03-18T08:00",
            "2030-03-25T08:00",
            "2030-04-01T07:00",
            "2030-04-08T07:00",
        ]
        assert [e["originalStart"] for e in seen][4] == "2030-04-01T07:00:00Z"
        # The same, asked for in Amsterdam time: always 09:00.
        local = http.get(
            f"{base}/calendarView",
            params=MARCH,
            headers={"Prefer": 'outlook.timezone="Europe/Amsterdam"'},
        ).json()["value"]
        assert {e["start"]["dateTime"][11:16] for e in local} == {"09:00"}
        # /events lists the master only; /instances expands it.
        listed = http.get(f"{base}/events").json()["value"]
        assert [e["id"] for e in listed] == [master_body["id"]]
        instances = http.get(f"{base}/events/{master_body['id']}/instances", params=MARCH).json()
        assert [e["id"] for e in instances["value"]] == [e["id"] for e in seen]


@pytest.mark.parametrize(
    ("pattern", "rule"),
    [
        ({"type": "daily", "interval": 3}, {"freq": rrule.DAILY, "interval": 3}),
        (
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            {"freq": rrule.MONTHLY, "bymonthday": 31},
        ),
        (
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
            {"freq": rrule.MONTHLY, "byweekday": rrule.FR(-1)},
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "month": 3, "dayOfMonth": 20},
            {"freq": rrule.YEARLY, "bymonth": 3, "bymonthday": 20},
        ),
        (
            {
                "type": "relativeYearly",
                "interval": 1,
                "month": 4,
                "daysOfWeek": ["monday"],
                "index": "second",
            },
            {"freq": rrule.YEARLY, "bymonth": 4, "byweekday": rrule.MO(2)},
        ),
    ],
)
def test_every_pattern_type_expands_like_the_rfc_rule(
    graph_sim: GraphSim, org: Org, pattern: dict[str, Any], rule: dict[str, Any]
) -> None:
    from datetime import datetime

    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        base = f"/users/{org.bob.id}"
        body = series_body(
            {
                "pattern": pattern,
                "range": {"type": "numbered", "startDate": "2030-03-04", "numberOfOccurrences": 4},
            },
            zone="UTC",
        )
        created = http.post(f"{base}/events", json=body)
        assert created.status_code == 201, created.text
        window = {"startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2035-12-31T00:00:00Z"}
        seen = [e["start"]["dateTime"][:16] for e in _view(http, base, window)]
        expected = [
            d.strftime("%Y-%m-%dT%H:%M")
            for d in rrule.rrule(dtstart=datetime(2030, 3, 4, 9), count=4, **rule)
        ]
        assert seen == expected
        http.delete(f"{base}/events/{created.json()['id']}")


def test_editing_one_occurrence_makes_an_exception_and_deleting_one_cancels_it(
    graph_sim: GraphSim, org: Org
) -> None:
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        base = f"/users/{org.alice.id}"
        master = http.post(
            f"{base}/events",
            json=series_body(
                weekly(["monday"], "2030-03-04", type="endDate", endDate="2030-04-08"),
                zone="Europe/Amsterdam",
            ),
        ).json()
        first = _view(http, base)
        _, link = _delta(http, f"{base}/calendarView/delta", MARCH)
        occ = [e for e in first if e["seriesMasterId"] == master["id"]]
        assert len(occ) == 6
        moved = http.patch(
            f"{base}/events/{occ[1]['id']}",
            json={
                "start": {"dateTime": "2030-03-11T14:00:00", "timeZone": "Europe/Amsterdam"},
                "end": {"dateTime": "2030-03-11T14:30:00", "timeZone": "Europe/Amsterdam"},
            },
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["type"] == "exception"
        assert moved.json()["id"] == occ[1]["id"]
        assert moved.json()["originalStart"] == "2030-03-11T08:00:00Z"
        assert http.delete(f"{base}/events/{occ[2]['id']}").status_code == 204
        assert http.get(f"{base}/events/{occ[2]['id']}").status_code == 404
        changes, link = _delta(http, link)
        by_id = {c["id"]: c for c in changes}
        assert set(by_id) == {occ[1]["id"], occ[2]["id"]}
        assert by_id[occ[1]["id"]]["start"]["dateTime"].startswith("2030-03-11T13:00")
        assert "@removed" in by_id[occ[2]["id"]]
        after = _view(http, base)
        mine = [e for e in after if e.get("seriesMasterId") == master["id"]]
        assert [e["type"] for e in mine] == [
            "occurrence",
            "exception",
            "occurrence",
            "occurrence",
            "occurrence",
        ]

        # Ending the series early: occurrences after the new end leave, reported as removed.
        ended = http.patch(
            f"{base}/events/{master['id']}",
            json={
                "recurrence": weekly(["monday"], "2030-03-04", type="endDate", endDate="2030-03-18")
            },
        )
        assert ended.status_code == 200, ended.text
        changes, link = _delta(http, link)
        removed = {c["id"] for c in changes if "@removed" in c}
        assert removed == {occ[3]["id"], occ[4]["id"], occ[5]["id"]}
        assert len([e for e in _view(http, base) if e.get("seriesMasterId") == master["id"]]) == 2

        # Deleting the master removes the whole series, the exception included.
        assert http.delete(f"{base}/events/{master['id']}").status_code == 204
        changes, _ = _delta(http, link)
        assert {c["id"] for c in changes if "@removed" in c} == {occ[0]["id"], occ[1]["id"]}
        assert [e for e in _view(http, base) if e.get("seriesMasterId") == master["id"]] == []


def test_all_day_events_are_local_midnights_whatever_zone_is_preferred(
    graph_sim: GraphSim, org: Org
) -> None:
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        base = f"/users/{org.bob.id}"
        body = {
            "subject": "Day off",
            "isAllDay": True,
            "start": {"dateTime": "2030-03-29T00:00:00", "timeZone": "FLE Standard Time"},
            "end": {"dateTime": "2030-03-30T00:00:00", "timeZone": "FLE Standard Time"},
        }
        created = http.post(f"{base}/events", json=body)
        assert created.status_code == 201, created.text
        got = http.get(
            f"{base}/events/{created.json()['id']}", headers={"Prefer": 'outlook.timezone="UTC"'}
        ).json()
        assert got["isAllDay"] is True
        assert got["start"] == {
            "dateTime": "2030-03-29T00:00:00.0000000",
            "timeZone": "FLE Standard Time",
        }
        wrong = http.post(
            f"{base}/events",
            json={**body, "start": {"dateTime": "2030-03-29T10:00:00", "timeZone": "UTC"}},
        )
        assert wrong.status_code == 400
        unknown = http.post(
            f"{base}/events",
            json={
                **body,
                "isAllDay": False,
                "start": {"dateTime": "2030-03-29T10:00:00", "timeZone": "Mars Standard Time"},
            },
        )
        assert unknown.status_code == 400
        assert "Mars Standard Time" in unknown.text


def test_unknown_recurrence_patterns_are_refused(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        bad = series_body(
            {"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2030-03-04"}}
        )
        response = http.post(f"/users/{org.alice.id}/events", json=bad)
        assert response.status_code == 400
