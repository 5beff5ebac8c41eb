"""Test DAGs for the collection/run operators, the trigger and the sensor (tests/e2e/test_runs.py).

URL lists and names arrive through `dag_run.conf` (rendered as native objects), so one DAG file
serves many scenarios and the tests choose the sandbox outcome hints per run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_scrapingpros.operators.collections import (
    ScrapingProsCreateCollectionOperator,
    ScrapingProsRunCollectionOperator,
    ScrapingProsUpdateCollectionOperator,
)
from airflow_provider_scrapingpros.sensors.scrapingpros import ScrapingProsRunSensor

# `collection_id=create.output` and `task(op.output)` hand a task an upstream task's XCom, which Airflow
# pulls before the task runs. Airflow types `.output` as XComArg, not as the value it stands for (the
# mypy plugin Airflow uses on its own DAGs to type it as Any is not shipped), so those lines carry a
# `type: ignore[arg-type]`.
COMMON: dict[str, Any] = {
    "schedule": None,
    "start_date": datetime(2026, 1, 1),
    "catchup": False,
    "render_template_as_native_obj": True,
}
CONF_REQUESTS = "{{ dag_run.conf['requests'] }}"
CONF_NAME = "{{ dag_run.conf.get('name', 'sp-test') }}"


@task
def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Downstream reads the run operator's XCom: ids and counters only."""
    return {"run_id": result["run_id"], "outcome": result["outcome"], "success": result["success_requests"]}


for deferrable in (True, False):
    with DAG(dag_id=f"sp_create_run_{'deferrable' if deferrable else 'sync'}", **COMMON):
        create = ScrapingProsCreateCollectionOperator(
            task_id="create", name=CONF_NAME, requests=CONF_REQUESTS
        )
        run = ScrapingProsRunCollectionOperator(
            task_id="run",
            collection_id=create.output,  # type: ignore[arg-type]  # XComArg
            deferrable=deferrable,
            poll_interval=0.05,
        )
        summarize(run.output)  # type: ignore[arg-type]  # XComArg


with DAG(dag_id="sp_max_failed_ratio", **COMMON):
    create = ScrapingProsCreateCollectionOperator(task_id="create", name=CONF_NAME, requests=CONF_REQUESTS)
    ScrapingProsRunCollectionOperator(
        task_id="run",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        deferrable=True,
        poll_interval=0.05,
        max_failed_ratio=0.1,
    )


with DAG(dag_id="sp_sensor", **COMMON):
    create = ScrapingProsCreateCollectionOperator(task_id="create", name=CONF_NAME, requests=CONF_REQUESTS)
    start = ScrapingProsRunCollectionOperator(
        task_id="start",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        wait_for_completion=False,
    )
    start >> ScrapingProsRunSensor(
        task_id="wait",
        collection_id="{{ ti.xcom_pull('start')['collection_id'] }}",
        run_id="{{ ti.xcom_pull('start')['run_id'] }}",
        deferrable=True,
        poll_interval=0.05,
    )
    start >> ScrapingProsRunSensor(
        task_id="wait_poke",
        collection_id="{{ ti.xcom_pull('start')['collection_id'] }}",
        run_id="{{ ti.xcom_pull('start')['run_id'] }}",
        deferrable=False,
        poke_interval=0.05,
    )


class CrashAfterPost(ScrapingProsRunCollectionOperator):
    """Simulates a worker dying after POST …/run and before deferring, on the first try only."""

    def wait_for_run(self, context: Any, *args: Any, **kwargs: Any) -> Any:
        if context["ti"].try_number == 1:
            raise RuntimeError("simulated worker crash between POST …/run and defer")
        return super().wait_for_run(context, *args, **kwargs)


with DAG(dag_id="sp_retry_reattach", **COMMON):
    create = ScrapingProsCreateCollectionOperator(task_id="create", name=CONF_NAME, requests=CONF_REQUESTS)
    CrashAfterPost(
        task_id="run",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        deferrable=True,
        poll_interval=0.05,
        retries=1,
        retry_delay=timedelta(0),
    )


with DAG(dag_id="sp_update_then_run", **COMMON):
    create = ScrapingProsCreateCollectionOperator(
        task_id="create", name=CONF_NAME, requests=["example.com/a"]
    )
    update = ScrapingProsUpdateCollectionOperator(
        task_id="update",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        name=CONF_NAME,
        requests=CONF_REQUESTS,
    )
    ScrapingProsRunCollectionOperator(
        task_id="run",
        collection_id=update.output,  # type: ignore[arg-type]  # XComArg
        deferrable=True,
        poll_interval=0.05,
    )


with DAG(dag_id="sp_bad_input", **COMMON):
    ScrapingProsCreateCollectionOperator(task_id="create", name=CONF_NAME, requests=CONF_REQUESTS)


with DAG(dag_id="sp_unknown_connection", **COMMON):
    ScrapingProsCreateCollectionOperator(
        task_id="create", name="x", requests=["example.com"], scrapingpros_conn_id="no_such_connection"
    )
