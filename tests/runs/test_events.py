"""Trigger events (runs/events.py): one fail-closed parser, and `conclude` from event to task result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_scrapingpros.exceptions import (
    ScrapingProsError,
    ScrapingProsRunFailedError,
    ScrapingProsWaitTimeoutError,
)
from airflow_provider_scrapingpros.runs.events import (
    ExportWakeEvent,
    RunEvent,
    WaitEvent,
    conclude,
    event_fields,
    parse_event,
)
from airflow_provider_scrapingpros.runs.watcher import Deadlines, RunWatcher
from tests.runs.helpers import run, url_for


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


@pytest.mark.parametrize(
    ("model", "event"),
    [
        (ExportWakeEvent, {"status": "success", "collection_id": "c", "run_id": "r", "message": ""}),
        (ExportWakeEvent, {"status": "ready", "collection_id": "c", "run_id": "r", "message": "", "x": 1}),
        (WaitEvent, {"status": "ready", "collection_id": "c", "run_id": "r", "message": ""}),
        (WaitEvent, "success"),
    ],
)
def test_one_parser_fails_closed_for_both_event_kinds(model: type[RunEvent], event: object) -> None:
    with pytest.raises(ScrapingProsError, match=r"malformed trigger event.*Event: .* Retry\.$"):
        parse_event(model, event, next_step=" Retry.")


def test_events_travel_as_plain_json_and_come_back_equal() -> None:
    wake = ExportWakeEvent(status="ready", collection_id="c", run_id="r", message="m", done=3)
    assert event_fields(wake) == {
        "status": "ready",
        "collection_id": "c",
        "run_id": "r",
        "message": "m",
        "deadline": None,
        "done": 3,
        "run_status": None,
    }
    assert parse_event(ExportWakeEvent, json.loads(json.dumps(event_fields(wake)))) == wake
