"""Fan out: one collection per site, scraped and exported in parallel with dynamic task mapping.

Each mapped task instance has its own idempotency key and its own saved run id (both include the
map index), so a retry of `scrape[2]` reattaches to site 2's run and never touches the others.
Add a site by adding a URL file under data/sites/ and its name to SITES.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_scrapingpros.operators.collections import ScrapingProsCreateCollectionOperator
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator

SITES = ["shop-a", "shop-b", "shop-c"]
# A manual run has no logical date ({{ ds }} fails there): fall back to when the run was due.
DAY = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
DATA = Path(__file__).parent / "data" / "sites"
EXPORT_ROOT = "{{ var.value.get('scrapingpros_export_root', 'file:///tmp/scrapingpros-exports') }}"


def export_args(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "collection_id": run["collection_id"],
        "run_id": run["run_id"],
        "destination": EXPORT_ROOT + f"/fan-out/{DAY}/run={run['run_id']}/",
    }


with DAG(
    dag_id="example_scrapingpros_fan_out",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    catchup=False,
    tags=["scrapingpros", "example"],
    doc_md=__doc__,
):
    collections = ScrapingProsCreateCollectionOperator.partial(task_id="upsert_collection").expand_kwargs(
        [{"name": f"fan-out-{site}-{DAY}", "requests": str(DATA / f"{site}.jsonl")} for site in SITES]
    )
    runs = ScrapingProsRunCollectionOperator.partial(task_id="scrape", deferrable=True).expand(
        collection_id=collections.output
    )
    ScrapingProsExportResultsOperator.partial(task_id="export_results", layout="files").expand_kwargs(
        runs.output.map(export_args)
    )
