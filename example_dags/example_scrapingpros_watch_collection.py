"""Export every run of a collection as it completes — runs started anywhere (the vendor UI, a cron,
another team's DAG), seen by a watcher in the triggerer.

1. **Watch** the collection: `ScrapingProsRunCompletedTrigger` polls its runs list from the
   triggerer (no worker slot, about one request a minute) and records one Asset event on the
   collection's Asset for each run that ends.
2. **Export** the run that event announces: the export operator reads it from the triggering event
   (no ids, no templates), into one folder per run.

Which collection: the environment variable `SCRAPINGPROS_WATCHED_COLLECTION` (read at parse time;
it is part of the Asset's name). Where results go: the Variable `scrapingpros_export_root`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, AssetWatcher

from airflow_provider_scrapingpros.assets import collection_asset
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.triggers.events import ScrapingProsRunCompletedTrigger

COLLECTION_ID = os.environ.get("SCRAPINGPROS_WATCHED_COLLECTION", "your-collection-id")
POLL_INTERVAL_S = float(os.environ.get("SCRAPINGPROS_WATCH_POLL_S", "60"))
EXPORT_ROOT = "{{ var.value.get('scrapingpros_export_root', 'file:///tmp/scrapingpros-exports') }}"

COLLECTION_RUNS = collection_asset(
    COLLECTION_ID,
    watchers=[
        AssetWatcher(
            name="scrapingpros_run_completed",
            trigger=ScrapingProsRunCompletedTrigger(
                collection_id=COLLECTION_ID, poll_interval=POLL_INTERVAL_S
            ),
        )
    ],
)

with DAG(
    dag_id="example_scrapingpros_watch_collection",
    schedule=[COLLECTION_RUNS],
    start_date=datetime(2026, 11, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["scrapingpros", "example"],
    doc_md=__doc__,
):
    ScrapingProsExportResultsOperator(
        task_id="export_run",
        # `{run_id}` is the announced run; the rest is rendered by Jinja as usual
        destination=EXPORT_ROOT + "/watched/{collection_id}/{run_id}/",
        layout="files",
    )
