"""ScrapingProsRunSensor called directly: poke, deferrable and sync waits all end in the run
operator's result; its options are checked like the run operator's."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import PokeReturnValue

from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.sensors.scrapingpros import ScrapingProsRunSensor
from tests.task_context import TaskDeferred, context_for, frozen, run_trigger


def started_run() -> tuple[str, str]:
    hook = ScrapingProsHook()
    cid = hook.create_collection("sensed", [{"url": "https://example.com/x"}]).id
    return cid, hook.create_run(cid).run_id


def sensor(cid: str, rid: str, **kwargs: Any) -> ScrapingProsRunSensor:
    return ScrapingProsRunSensor(task_id="wait", collection_id=cid, run_id=rid, poll_interval=0.05, **kwargs)


def test_poke_reports_done_with_the_run_operators_result(conn: SandboxControl) -> None:
    cid, rid = started_run()
    task = sensor(cid, rid, deferrable=False)
    value = task.poke(context_for())
    while value is False:
        value = task.poke(context_for())
    assert isinstance(value, PokeReturnValue) and value.is_done
    assert value.xcom_value == {
        "collection_id": cid,
        "run_id": rid,
        "status": "completed",
        "total_requests": 1,
        "success_requests": 1,
        "failed_requests": 0,
        "timeout_requests": 0,
        "outcome": "success",
        "run_url": f"{conn.base_url}/v1/async/collections/{cid}/runs/{rid}",
        "estimated_credits": 5,  # no upstream record: the run's size bounds it
        "estimate_source": "run_size",
        "credits_used": None,
        "credits_used_range": [1, 5],
    }


def test_deferrable_sensor_waits_in_the_trigger(conn: SandboxControl) -> None:
    context = context_for()
    with frozen(conn), pytest.raises(TaskDeferred) as deferred:
        cid, rid = started_run()
        sensor(cid, rid, deferrable=True, timeout=60).execute(context)
    assert deferred.value.trigger.timeout_at is not None  # the sensor's timeout travels as a deadline
    result = sensor(cid, rid).execute_complete(context, run_trigger(deferred.value.trigger))
    assert (result["run_id"], result["outcome"]) == (rid, "success")
    assert context["ti"].pushed["_link_ScrapingProsRunLink"] == result["run_url"]
    assert context["ti"].pushed["scrapingpros_cost"]["estimated_credits"] == 5


@pytest.mark.parametrize(
    ("options", "field"),
    [({"max_failed_ratio": -0.1}, "max_failed_ratio"), ({"poll_interval": -1}, "poll_interval")],
)
def test_bad_options_are_refused_like_the_run_operators(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ScrapingProsInputError) as err:
        ScrapingProsRunSensor(task_id="wait", collection_id="c", run_id="r", **options)
    assert err.value.errors[0][0] == field


@pytest.mark.parametrize(("cid", "rid", "field"), [("", "r", "collection_id"), ("c", " ", "run_id")])
def test_empty_ids_are_input_errors_before_any_call(
    conn: SandboxControl, cid: str, rid: str, field: str
) -> None:
    """What a forgotten dag_run.conf key renders to: refused, never sent as `collections//runs/`."""
    for deferrable in (True, False):
        with pytest.raises(ScrapingProsInputError) as err:
            sensor(cid, rid, deferrable=deferrable).execute(context_for())
        assert err.value.errors == [(field, "must not be empty")]
    assert conn.count() == 0
