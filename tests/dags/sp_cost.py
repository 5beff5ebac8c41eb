"""Test DAG for the cost guard (tests/e2e/test_cost.py): create → run (capped at 50 credits,
quota required) → export, with requests and destination from `dag_run.conf`."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_scrapingpros.operators.collections import ScrapingProsCreateCollectionOperator
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator

MAX_CREDITS = 50

with DAG(
    dag_id="sp_cost",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
):
    create = ScrapingProsCreateCollectionOperator(
        task_id="create", name="{{ dag_run.conf['name'] }}", requests="{{ dag_run.conf['requests'] }}"
    )
    run = ScrapingProsRunCollectionOperator(
        task_id="run",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        deferrable=True,
        poll_interval=0.05,
        max_credits=MAX_CREDITS,
        retries=0,
    )
    run >> ScrapingProsExportResultsOperator(
        task_id="export",
        collection_id="{{ ti.xcom_pull('run')['collection_id'] }}",
        run_id="{{ ti.xcom_pull('run')['run_id'] }}",
        destination="{{ dag_run.conf['destination'] }}",
        layout="jsonl",
    )
