"""Export a run started outside Airflow (another DAG, a cron job, the vendor's UI).

Trigger it with the run's ids: `{"collection_id": "...", "run_id": "..."}`. The sensor waits in the
triggerer, then the results land as gzip JSON Lines parts — the layout for loading into a warehouse.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.sensors.scrapingpros import ScrapingProsRunSensor

EXPORT_ROOT = "{{ var.value.get('scrapingpros_export_root', 'file:///tmp/scrapingpros-exports') }}"

with DAG(
    dag_id="example_scrapingpros_sensor",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    catchup=False,
    params={"collection_id": Param(type="string"), "run_id": Param(type="string")},
    tags=["scrapingpros", "example"],
    doc_md=__doc__,
):
    wait = ScrapingProsRunSensor(
        task_id="wait_for_run",
        collection_id="{{ params.collection_id }}",
        run_id="{{ params.run_id }}",
        deferrable=True,
        timeout=6 * 3600,
    )
    wait >> ScrapingProsExportResultsOperator(
        task_id="export_jsonl",
        collection_id="{{ params.collection_id }}",
        run_id="{{ params.run_id }}",
        destination=EXPORT_ROOT + "/external/run={{ params.run_id }}/",
        layout="jsonl",
    )
