"""The operator's contract without running it: inputs rejected at DAG parse time with the field named,
trigger events handled fail-closed."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_scrapingpros.exceptions import ScrapingProsError, ScrapingProsWaitTimeoutError
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator

BASE: dict[str, Any] = {
    "task_id": "export",
    "collection_id": "c",
    "run_id": "r",
    "destination": "file:///tmp/x",
}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "parquet"}, "layout must be 'files' or 'jsonl'"),
        ({"include": ["content", "html"]}, r"include has unknown item\(s\) \['html'\]"),
        ({"on_expired": "ignore"}, "on_expired must be 'fail' or 'record'"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"poll_interval": 0}, "poll_interval must be positive"),
        ({"part_max_records": 0}, "part_max_bytes and part_max_records must be positive"),
    ],
)
def test_bad_inputs_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScrapingProsExportResultsOperator(**BASE, **kwargs)


def test_defaults_and_templates() -> None:
    op = ScrapingProsExportResultsOperator(**BASE)
    assert set(op.template_fields) == {"collection_id", "run_id", "run_ids", "destination", "storage_conn_id"}
    assert (op.max_concurrency, op.max_streams) == (8, 10)
    assert (op.options.layout, op.on_expired, op.follow, op.options.only_success) == (
        "files",
        "fail",
        True,
        False,
    )
    assert op.options.include == {"content", "extracted_data", "screenshot", "network_requests"}
    jsonl = ScrapingProsExportResultsOperator(**BASE, layout="jsonl")
    assert "metadata" in jsonl.options.include


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        (None, ScrapingProsError, "malformed trigger event"),
        ({"status": "success"}, ScrapingProsError, "malformed trigger event"),
        (
            {
                "status": "error",
                "collection_id": "c",
                "run_id": "r",
                "message": "Following run r failed: boom",
            },
            ScrapingProsError,
            "boom. A retry resumes the export",
        ),
        (
            {
                "status": "timeout",
                "collection_id": "c",
                "run_id": "r",
                "message": "late",
                "deadline": "timeout",
            },
            ScrapingProsWaitTimeoutError,
            "late",
        ),
    ],
)
def test_trigger_events_fail_closed(event: Any, error: type[Exception], message: str) -> None:
    op = ScrapingProsExportResultsOperator(**BASE)
    with pytest.raises(error, match=message):
        op.execute_complete({}, event)


def test_execution_timeout_event_is_a_task_timeout() -> None:
    from airflow_provider_scrapingpros.tasks.base import AirflowTaskTimeout

    op = ScrapingProsExportResultsOperator(**BASE)
    event = {
        "status": "timeout",
        "collection_id": "c",
        "run_id": "r",
        "message": "x",
        "deadline": "execution_timeout",
    }
    with pytest.raises(AirflowTaskTimeout, match="resumes the export"):
        op.execute_complete({}, event)
