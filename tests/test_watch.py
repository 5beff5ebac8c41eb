"""The sans-IO run watcher: terminal states, unknown statuses, transient errors, deadlines, events."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from airflow_provider_scrapingpros.exceptions import (
    ScrapingProsAuthError,
    ScrapingProsError,
    ScrapingProsRateLimitError,
    ScrapingProsRunFailedError,
    ScrapingProsServerError,
    ScrapingProsWaitTimeoutError,
)
from airflow_provider_scrapingpros.models import Run
from airflow_provider_scrapingpros.watch import (
    Deadlines,
    RunWatcher,
    WaitEvent,
    adaptive_interval,
    conclude,
    wait_sync,
)


def run(status: str = "in_progress", total: int = 10, ok: int = 0, failed: int = 0, **extra: Any) -> Run:
    return Run.model_validate(
        {
            "run_id": "r1",
            "collection_id": "c1",
            "status": status,
            "total_requests": total,
            "success_requests": ok,
            "failed_requests": failed,
            "timeout_requests": 0,
            "job_ids": [f"j{i}" for i in range(total)],
            **extra,
        }
    )


def url_for(cid: str, rid: str) -> str:
    return f"http://api/v1/async/collections/{cid}/runs/{rid}"


@pytest.mark.parametrize(
    ("total", "interval"), [(0, 2), (99, 2), (100, 5), (499, 5), (500, 10), (1999, 10), (2000, 20)]
)
def test_adaptive_interval_matches_the_sdk_status_table(total: int, interval: float) -> None:
    assert adaptive_interval(total) == interval


def test_in_progress_polls_again_and_completed_emits_success() -> None:
    watcher = RunWatcher("c1", "r1", deadlines=Deadlines())
    assert watcher.observe(run(total=150), 0.0) == 5.0
    event = watcher.observe(run("completed", total=150, ok=149, failed=1), 1.0)
    assert isinstance(event, WaitEvent)
    assert (event.status, event.run and event.run.success_requests) == ("success", 149)


def test_unknown_status_keeps_polling() -> None:
    watcher = RunWatcher("c1", "r1", deadlines=Deadlines(), poll_interval=0.5)
    assert watcher.observe(run("paused_by_vendor"), 0.0) == 0.5


def test_failed_and_cancelled_runs_emit_failed() -> None:
    for status in ("failed", "cancelled"):
        event = RunWatcher("c1", "r1", deadlines=Deadlines()).observe(run(status), 0.0)
        assert isinstance(event, WaitEvent) and event.status == "failed"


def test_transient_errors_retry_and_others_end_the_wait() -> None:
    watcher = RunWatcher("c1", "r1", deadlines=Deadlines(), poll_interval=1.0)
    assert watcher.on_error(ScrapingProsServerError("boom"), 0.0) == 1.0
    assert watcher.on_error(ScrapingProsRateLimitError("slow down", retry_after=7), 0.0) == 7.0
    event = watcher.on_error(ScrapingProsAuthError("bad token"), 0.0)
    assert isinstance(event, WaitEvent) and event.status == "error" and "bad token" in event.message


def test_deadlines_cap_sleep_and_fire_in_order() -> None:
    deadlines = Deadlines(timeout_at=100.0, execution_deadline=50.0)
    watcher = RunWatcher("c1", "r1", deadlines=deadlines, poll_interval=30.0)
    assert watcher.observe(run(), 40.0) == 10.0
    assert watcher.deadline_event(49.9) is None
    event = watcher.deadline_event(50.0)
    assert event is not None and (event.status, event.deadline) == ("timeout", "execution_timeout")
    assert Deadlines(timeout_at=100.0).passed(100.0) == "timeout"


def test_the_sync_wait_tells_each_poll_the_time_left() -> None:
    now = time.time()
    watcher = RunWatcher("c1", "r1", deadlines=Deadlines(timeout_at=now + 50), poll_interval=1.0)
    told: list[float] = []

    def get_run(max_wait: float) -> Run:
        told.append(max_wait)
        return run("completed", ok=10)

    assert wait_sync(get_run, watcher).status == "success"
    assert len(told) == 1 and 49 < told[0] <= 50
    assert wait_sync(get_run, RunWatcher("c1", "r1", deadlines=Deadlines())).status == "success"
    assert told[1] == math.inf


def test_event_round_trips_as_plain_json_and_concludes() -> None:
    event = RunWatcher("c1", "r1", deadlines=Deadlines()).observe(run("completed", ok=10), 0.0)
    assert isinstance(event, WaitEvent)
    result = conclude(event.model_dump(mode="json"), url_for, max_failed_ratio=None)
    assert result.model_dump() == {
        "collection_id": "c1",
        "run_id": "r1",
        "status": "completed",
        "total_requests": 10,
        "success_requests": 10,
        "failed_requests": 0,
        "timeout_requests": 0,
        "outcome": "success",
        "run_url": "http://api/v1/async/collections/c1/runs/r1",
    }


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        {"status": "success"},
        {"status": "exploded", "collection_id": "c", "run_id": "r", "message": ""},
    ],
)
def test_conclude_fails_closed_on_malformed_events(event: Any) -> None:
    with pytest.raises(ScrapingProsError, match="malformed trigger event"):
        conclude(event, url_for, max_failed_ratio=None)


def test_max_failed_ratio_failure_lists_a_sample() -> None:
    failed_jobs = [
        {"job_id": f"j{i}", "url": f"https://x.com/{i}", "status": "completed", "error": "http_404"}
        for i in range(4)
    ]
    event = RunWatcher("c1", "r1", deadlines=Deadlines()).observe(
        run("completed", ok=6, failed=4, failed_jobs=failed_jobs), 0.0
    )
    with pytest.raises(ScrapingProsRunFailedError) as err:
        conclude(event, url_for, max_failed_ratio=0.3)
    assert "4/10 jobs did not succeed (40.0% > max_failed_ratio 30.0%" in str(err.value)
    assert "https://x.com/3 [completed] http_404" in str(err.value)
    assert conclude(event, url_for, max_failed_ratio=0.4).outcome == "partial"


def test_timeout_event_raises_with_the_deadline_kind() -> None:
    event = RunWatcher("c1", "r1", deadlines=Deadlines(timeout_at=1.0)).deadline_event(2.0)
    with pytest.raises(ScrapingProsWaitTimeoutError) as err:
        conclude(event, url_for, max_failed_ratio=None)
    assert err.value.deadline == "timeout"
    assert "continues on the server" in str(err.value)
