"""DAGs whose OpenLineage events tests/lineage/test_events.py reads (run by tests/lineage/emit.py).

Inputs come through `dag_run.conf`; `{{ dag_run.conf[...] }}` renders as native objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.operators.collections import (
    ScrapingProsCreateCollectionOperator,
    ScrapingProsRunCollectionOperator,
    ScrapingProsUpdateCollectionOperator,
)
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.operators.scrape import ScrapingProsScrapeOperator

COMMON: dict[str, Any] = {
    "schedule": None,
    "start_date": datetime(2026, 1, 1),
    "catchup": False,
    "render_template_as_native_obj": True,
}


@task
def read_with_hook(collection: str, run: str) -> int:
    """A task that uses the hook directly: its datasets can only come from hook lineage.
    (`run_id` is reserved for a @task's arguments, hence the short names.)"""
    hook = ScrapingProsHook()
    found = hook.get_run(collection, run)
    jobs = list(hook.iter_jobs(collection, run))  # the same run again: reported once
    return found.total_requests + len(jobs)


with DAG(dag_id="sp_lineage_pipeline", **COMMON):
    create = ScrapingProsCreateCollectionOperator(
        task_id="create", name="lineage-pipeline", requests="{{ dag_run.conf['requests'] }}"
    )
    update = ScrapingProsUpdateCollectionOperator(
        task_id="update",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        name="lineage-pipeline",
        requests="{{ dag_run.conf['requests'] }}",
    )
    run = ScrapingProsRunCollectionOperator(
        task_id="run",
        collection_id=update.output,  # type: ignore[arg-type]  # XComArg
        deferrable=True,
        poll_interval=0.05,
    )
    export = ScrapingProsExportResultsOperator(
        task_id="export",
        collection_id="{{ ti.xcom_pull('run')['collection_id'] }}",
        run_id="{{ ti.xcom_pull('run')['run_id'] }}",
        destination="{{ dag_run.conf['destination'] }}",
        storage_conn_id="{{ dag_run.conf.get('storage_conn_id') }}",
        layout="jsonl",
    )
    run >> export

with DAG(dag_id="sp_lineage_failure", **COMMON):
    failing = ScrapingProsCreateCollectionOperator(
        task_id="create", name="lineage-failure", requests="{{ dag_run.conf['requests'] }}"
    )
    ScrapingProsRunCollectionOperator(
        task_id="run",
        collection_id=failing.output,  # type: ignore[arg-type]  # XComArg
        poll_interval=0.05,
        max_failed_ratio=0.0,
        retries=0,
    )

with DAG(dag_id="sp_lineage_scrape", **COMMON):
    ScrapingProsScrapeOperator(
        task_id="scrape",
        request="{{ dag_run.conf['url'] }}",
        destination="{{ dag_run.conf['destination'] }}",
    )

# One task only: `dag.test()` runs every task in one process, so an earlier task's hook reports would
# still be in Airflow's (process-wide) collector; a worker runs each task in a fresh process.
with DAG(dag_id="sp_lineage_hook", **COMMON):
    read_with_hook("{{ dag_run.conf['collection_id'] }}", "{{ dag_run.conf['run_id'] }}")
