"""Daily product scrape: the whole job in four steps, the way the business describes it.

1. **Upsert today's collection** from the URL list shipped beside this file (one collection per day,
   named by the logical date; a retry reuses it).
2. **Scrape** it, waiting in the triggerer rather than a worker slot; fail if more than half of the
   pages could not be fetched.
3. **Rescrape what failed for a reason a second try can fix** (a bot wall, a timeout, a worker
   failure, a 5xx): first with `retry_on_block`, then also in a browser — never a 404, and never
   past 500 credits.
4. **Export** every result to object storage under the day's folder before the API forgets the
   bodies (48 h): one manifest line per URL with its best attempt; the export's figures ride on
   the `scrapingpros_daily_products` Asset so downstream DAGs start when the data has landed.

Where results go: the Airflow Variable `scrapingpros_export_root` (e.g. `s3://my-bucket/scrapes`,
with `storage_conn_id` set to your AWS connection), default `file:///tmp/scrapingpros-exports`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, Asset

from airflow_provider_scrapingpros.operators.collections import ScrapingProsCreateCollectionOperator
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.operators.rescrape import ScrapingProsRescrapeOperator
from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator

URL_LIST = Path(__file__).parent / "data" / "daily_products.csv"  # read by the task, not at parse time
EXPORT_ROOT = "{{ var.value.get('scrapingpros_export_root', 'file:///tmp/scrapingpros-exports') }}"
DAILY_EXPORT = Asset("scrapingpros_daily_products")
# A manual run has no logical date ({{ ds }} fails there): fall back to when the run was due.
DAY = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"

with DAG(
    dag_id="example_scrapingpros_daily",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["scrapingpros", "example"],
    doc_md=__doc__,
):
    collection = ScrapingProsCreateCollectionOperator(
        task_id="upsert_collection",
        name="daily-products-" + DAY,
        requests=str(URL_LIST),
    )
    scrape = ScrapingProsRunCollectionOperator(
        task_id="scrape",
        collection_id=collection.output,
        deferrable=True,
        timeout=timedelta(hours=6),
        max_failed_ratio=0.5,
        max_credits=5_000,  # never start a run that could cost more (docs/cost.md)
    )
    rescrape = ScrapingProsRescrapeOperator(
        task_id="rescrape_failures",
        collection_id="{{ ti.xcom_pull(task_ids='scrape')['collection_id'] }}",
        run_id="{{ ti.xcom_pull(task_ids='scrape')['run_id'] }}",
        requests=str(URL_LIST),  # the same list: failed jobs are matched to it by url and custom_id
        ladder=[{"retry_on_block": True}, {"browser": True}],
        max_credits=500,
        deferrable=True,
        timeout=timedelta(hours=2),  # per round
    )
    export = ScrapingProsExportResultsOperator(
        task_id="export_results",
        # the original run first, then each round's: one merged folder
        run_ids="{{ ti.xcom_pull(task_ids='rescrape_failures')['runs'] }}",
        # one folder per scraping run, so re-running a day never mixes two runs' results
        destination=EXPORT_ROOT + "/daily/" + DAY + "/run={{ ti.xcom_pull(task_ids='scrape')['run_id'] }}/",
        layout="files",
        on_expired="fail",
        outlets=[DAILY_EXPORT],
    )
    scrape >> rescrape >> export
