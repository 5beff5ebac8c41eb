"""The sans-IO run watcher (runs/watcher.py): terminal states, unknown statuses, transient errors,
deadlines."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from airflow_provider_scrapingpros.client.models import Run
from airflow_provider_scrapingpros.exceptions import (
    ScrapingProsAuthError,
    ScrapingProsRateLimitError,
    ScrapingProsServerError,
)
from airflow_provider_scrapingpros.runs.events import WaitEvent
from airflow_provider_scrapingpros.runs.watcher import (
    Deadlines,
    RunWatcher,
    adaptive_interval,
    wait_sync,
)
from tests.runs.helpers import run


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


@pytest.mark.parametrize(
    ("first", "second", "what"),
    [
        ({"total": 19, "ok": 5}, {"total": 10, "ok": 9}, "total_requests changed from 19 to 10"),
        ({"ok": 6, "failed": 2}, {"ok": 4, "failed": 2}, "success_requests went down from 6 to 4"),
        ({"ok": 6, "failed": 2}, {"ok": 7, "failed": 1}, "failed_requests went down from 2 to 1"),
    ],
)
def test_answers_that_contradict_earlier_ones_fail_closed(
    first: dict[str, Any], second: dict[str, Any], what: str
) -> None:
    watcher = RunWatcher("c1", "r1", deadlines=Deadlines(), poll_interval=1.0)
    assert watcher.observe(run(**first), 0.0) == 1.0
    event = watcher.observe(run("completed", **second), 1.0)
    assert isinstance(event, WaitEvent) and event.status == "error"
    assert event.message == (
        f"Run r1: the API's answers contradict each other ({what}); refusing to trust this run's "
        "counters. Look at the run on the server; a retry of this task reattaches to it."
    )


def test_a_run_already_finished_at_the_first_look_logs_no_rate(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO"):
        RunWatcher("c1", "r1", deadlines=Deadlines()).observe(run("completed", ok=10), 0.0)
    (line,) = [r.getMessage() for r in caplog.records if "done" in r.getMessage()]
    assert line == "Run r1: 10/10 done (success 10, failed 0, timeout 0)"
