"""calendarView and calendarView/delta: full sync, paging, incremental changes, @removed, 410."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.simulator import graph_support
from tests.simulator.graph_support import GraphSim, Org, event_body

graph_sim = graph_support.graph_sim
org = graph_support.org

WINDOW = {"startDateTime": "2030-05-01T00:00:00Z", "endDateTime": "2030-05-08T00:00:00Z"}


def _round(
    http: httpx.Client, first_url: str, params: dict[str, str] | None = None, page: int = 2
) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink; returns (items, deltaLink, pages)."""
    headers = {"Prefer": f"odata.maxpagesize={page}"}
    response = http.get(first_url, params=params, headers=headers)
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["value"]) <= page
        items += body["value"]
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return items, body["@odata.deltaLink"], pages
        response = http.get(body["@odata.nextLink"], headers=headers)


def test_delta_full_sync_pages_then_reports_changes_and_removals(
    graph_sim: GraphSim, org: Org
) -> None:
    control = graph_sim.control()
    with graph_sim.http(org.app_only("Calendars.ReadWrite")) as http:
        base = f"/users/{org.alice.id}"
        ids = []
        for day in range(1, 6):
            ev = http.post(
                f"{base}/events",
                json=event_body(
                    f"Day {day}", f"2030-05-0{day}T09:00:00", f"2030-05-0{day}T10:00:00"
                ),
            ).json()
            ids.append(ev["id"])
        outside = http.post(
            f"{base}/events", json=event_body("Later", "2030-06-01T09:00:00", "2030-06-01T10:00:00")
        ).json()

        items, delta_link, pages = _round(http, f"{base}/calendarView/delta", WINDOW)
        assert pages == 3  # 5 events, 2 per page
        assert [i["id"] for i in items] == ids
        assert all("@removed" not in i for i in items)
        assert items[0]["@odata.type"] == "#microsoft.graph.event"

        # Nothing changed: an empty page with a new deltaLink.
        again = http.get(delta_link).json()
        assert again["value"] == []
        assert "@odata.deltaLink" in again

        # Changes through Graph and as a person in Outlook (control API).
        http.patch(f"{base}/events/{ids[0]}", json={"subject": "Day 1 (edited)"})
        http.delete(f"{base}/events/{ids[1]}")
        control.move_event(
            org.alice.mail,
            ids[2],
            datetime(2030, 7, 1, 9, tzinfo=UTC),
            datetime(2030, 7, 1, 10, tzinfo=UTC),
        )
        created = control.create_event(
            org.alice.mail, event_body("Walk-in", "2030-05-07T15:00:00", "2030-05-07T15:30:00")
        )
        http.patch(f"{base}/events/{outside['id']}", json={"subject": "still outside"})

        changes, next_delta, _ = _round(http, delta_link, page=10)
        by_id = {c["id"]: c for c in changes}
        assert by_id[ids[0]]["subject"] == "Day 1 (edited)"
        assert by_id[ids[1]]["@removed"] == {"reason": "deleted"}
        assert by_id[ids[2]]["@removed"] == {"reason": "deleted"}  # moved out of the window
        assert by_id[created["id"]]["subject"] == "Walk-in"
        assert set(by_id) - {ids[0], ids[1], ids[2], created["id"]} <= {outside["id"]}
        assert ids[3] not in by_id
        assert ids[4] not in by_id

        # Moving it back brings it back.
        control.move_event(
            org.alice.mail,
            ids[2],
            datetime(2030, 5, 3, 9, tzinfo=UTC),
            datetime(2030, 5, 3, 10, tzinfo=UTC),
        )
        back = http.get(next_delta).json()["value"]
        assert [(b["id"], "@removed" in b) for b in back] == [(ids[2], False)]


def test_invalidated_delta_token_answers_410_sync_state_not_found(
    graph_sim: GraphSim, org: Org
) -> None:
    with graph_sim.http(org.delegated(org.bob, "Calendars.Read")) as http:
        body = http.get("/me/calendarView/delta", params=WINDOW).json()
        delta_link = body["@odata.deltaLink"]
        assert graph_sim.control().invalidate_delta(org.bob.id) >= 1
        gone = http.get(delta_link)
        assert gone.status_code == 410
        assert gone.json()["error"]["code"] == "SyncStateNotFound"
        made_up = http.get("/me/calendarView/delta", params={"$deltatoken": "not-a-token"})
        assert made_up.status_code == 410


def test_calendar_view_lists_overlapping_events_with_paging(graph_sim: GraphSim, org: Org) -> None:
    with graph_sim.http(org.delegated(org.bob, "Calendars.ReadWrite")) as http:
        for hour in (8, 10, 12):
            http.post(
                "/me/events",
                json=event_body(
                    f"h{hour}", f"2030-05-02T{hour:02d}:00:00", f"2030-05-02T{hour + 1:02d}:00:00"
                ),
            )
        http.post(
            "/me/events", json=event_body("spans", "2030-04-30T22:00:00", "2030-05-01T01:00:00")
        )
        http.post(
            "/me/events", json=event_body("before", "2030-04-29T08:00:00", "2030-04-29T09:00:00")
        )
        first = http.get("/me/calendar/calendarView", params={**WINDOW, "$top": "3"}).json()
        assert [e["subject"] for e in first["value"]] == ["spans", "h8", "h10"]
        rest = http.get(first["@odata.nextLink"]).json()
        assert [e["subject"] for e in rest["value"]] == ["h12"]
        assert "@odata.nextLink" not in rest
        missing = http.get("/me/calendarView")
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == "ErrorInvalidParameter"
