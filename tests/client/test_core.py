"""The sans-IO core (client/core.py): requests built from inputs, checked before anything is sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from airflow_provider_scrapingpros.client.core import ScrapingProsCore
from airflow_provider_scrapingpros.client.retry import (
    RetrySettings,
)
from airflow_provider_scrapingpros.client.settings import (
    ClientSettings,
)
from airflow_provider_scrapingpros.client.wire import ApiResponse, Send, Sleep
from airflow_provider_scrapingpros.exceptions import (
    ScrapingProsInputError,
    ScrapingProsValidationError,
)

TOKEN = "sp_unit_secret_token"


def _core(**retry: Any) -> ScrapingProsCore:
    return ScrapingProsCore(
        ClientSettings(base_url="http://unit.invalid", token=TOKEN, retry=RetrySettings(**retry))
    )


def test_jobs_page_request_is_built_from_filters() -> None:
    flow = _core().get_jobs_page(
        "c/1",
        "r1",
        limit=500,
        cursor="abc",
        status_filter=["completed", "failed,timeout"],
        order_by="completed_at",
        order_dir="asc",
        since_completed_at=datetime(2026, 5, 1, 10, 0, 0, 123000),
        include_results=True,
    )
    action = next(flow)
    assert isinstance(action, Send)
    assert action.request.method == "GET"
    assert action.request.path == "/v1/async/collections/c%2F1/runs/r1/jobs"
    assert action.request.params == (
        ("limit", "100"),
        ("cursor", "abc"),
        ("status_filter", "completed,failed,timeout"),
        ("order_by", "completed_at"),
        ("order_dir", "asc"),
        ("since_completed_at", "2026-05-01T10:00:00.123000Z"),
        ("include_results", "true"),
    )
    flow.close()


def test_bad_inputs_fail_before_anything_is_sent() -> None:
    core = _core()
    with pytest.raises(ScrapingProsValidationError, match="Invalid order_by 'url', nothing was sent"):
        core.get_jobs_page("c", "r", order_by="url")
    with pytest.raises(ScrapingProsValidationError, match="Invalid status_filter 'done'"):
        core.get_jobs_page("c", "r", status_filter="completed,done")
    with pytest.raises(ScrapingProsValidationError) as info:
        core.create_collection(
            "n", [{"url": "https://a.example"}, {"url": "https://b", "actions": [{"type": "click"}]}]
        )
    assert info.value.errors == [("requests[1].actions.0.selector", "Field required")]


def test_collection_retries_reuse_one_idempotency_key() -> None:
    flow = _core(backoff_base=0.01).create_collection("n", [{"url": "https://a.example"}])
    first = next(flow)
    assert isinstance(first, Send)
    key = dict(first.request.headers)["Idempotency-Key"]
    assert len(key) == 32
    assert first.request.json == {"name": "n", "requests": [{"url": "https://a.example"}]}
    assert isinstance(flow.send(ApiResponse(503, {}, b"{}")), Sleep)
    second = flow.send(None)
    assert isinstance(second, Send)
    assert dict(second.request.headers)["Idempotency-Key"] == key
    body = b'{"id":"c1","name":"n","message":"Collection created successfully."}'
    with pytest.raises(StopIteration) as done:
        flow.send(ApiResponse(201, {"idempotency-replayed": "true"}, body))
    assert done.value.value.id == "c1"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda core: core.get_run("", "r"), "collection_id"),
        (lambda core: core.get_run("c", "  "), "run_id"),
        (lambda core: core.list_runs(""), "collection_id"),
        (lambda core: core.create_run(" "), "collection_id"),
        (lambda core: core.get_job_result("c", "r", ""), "job_id"),
        (lambda core: core.run_url("c", ""), "run_id"),
    ],
)
def test_empty_ids_are_input_errors_before_anything_is_sent(call: Any, field: str) -> None:
    with pytest.raises(ScrapingProsInputError) as err:
        flow = call(_core())
        next(flow)  # a flow sends on its first step: it must not get that far
    assert err.value.errors == [(field, "must not be empty")]
    assert str(err.value) == (
        f"`{field}` is empty: nothing was sent. Pass the id (a template that renders to nothing, "
        "e.g. a missing dag_run.conf key or XCom, gives an empty id)."
    )
