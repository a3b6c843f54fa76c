"""Timer triggers on the local host: on-demand runs through the admin API and scheduled runs."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from pathlib import Path

import httpx
import pytest

from devhost.host import DevHost
from devhost.timers import TimerSchedule
from tests.devhost.sample_app import Recorder, build_app


def test_timer_runs_on_demand_through_the_admin_api(tmp_path: Path) -> None:
    recorder = Recorder()
    with DevHost(build_app(recorder), app_dir=tmp_path) as host:
        host.start()
        response = httpx.post(
            f"{host.base_url}/admin/functions/nightly", json={"input": ""}, trust_env=False
        )

        assert response.status_code == 202
        (run,) = recorder.wait_for("nightly", 1)
        # invoke() on a running host runs on the host's worker threads and waits.
        host.invoke("nightly", timeout=10)
    assert run["past_due"] is False
    assert len(run["invocation_id"]) == 36  # the context carries a UUID invocation id
    assert all(r["thread"].startswith("devhost-fn") for r in recorder.of("nightly"))
    assert len(recorder.of("nightly")) == 2


def test_timer_fires_on_its_every_second_schedule(tmp_path: Path) -> None:
    recorder = Recorder()
    with DevHost(build_app(recorder, tick_schedule="* * * * * *"), app_dir=tmp_path) as host:
        host.start()
        runs = recorder.wait_for("tick", 3, timeout=10)
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(runs)]
    # Never more often than the schedule says (how late a run may be is a matter of load).
    assert all(gap > 0.5 for gap in gaps), gaps
    assert not any(run["past_due"] for run in runs)


def test_a_host_without_timers_runs_them_only_when_invoked(tmp_path: Path) -> None:
    recorder = Recorder()
    app = build_app(recorder, tick_schedule="* * * * * *")
    with DevHost(app, app_dir=tmp_path, timers=False) as host:
        host.start()
        # Three schedule points pass; a host with timers would have fired at each of them.
        time.sleep(3)
        assert recorder.of("tick") == []
        host.invoke("tick", timeout=10)
    assert len(recorder.of("tick")) == 1


def test_invoke_runs_a_timer_function_without_a_running_host(tmp_path: Path) -> None:
    recorder = Recorder()
    host = DevHost(build_app(recorder), app_dir=tmp_path)

    assert host.invoke("nightly") is None
    assert recorder.of("nightly")[0]["past_due"] is False
    with pytest.raises(KeyError):
        host.invoke("no_such_function")
    with pytest.raises(ValueError, match="HTTP function"):
        host.invoke("boom")


def test_ncrontab_schedule_reads_seconds_first_and_timespans() -> None:
    start = dt.datetime(2026, 1, 1, 10, 0, 0, tzinfo=dt.UTC)

    every_five_minutes = TimerSchedule("0 */5 * * * *")
    assert every_five_minutes.next_after(start) == start + dt.timedelta(minutes=5)
    assert TimerSchedule("30 0 10 * * *").next_after(start) == start + dt.timedelta(seconds=30)
    assert TimerSchedule("00:00:10").next_after(start) == start + dt.timedelta(seconds=10)
    with pytest.raises(ValueError, match="NCRONTAB"):
        TimerSchedule("*/5 * * * *")  # five-field cron is not NCRONTAB
