"""Export every run of a collection as it completes — told by the API's signed webhook.

1. The collection was created with `callback_url` pointing at this Airflow's API server:
   `https://<your airflow>/scrapingpros/webhooks/scrapingpros_default` (the create operator's
   `webhook_base_url` builds it). When a run ends, the API POSTs a signed `run.completed` there.
2. The provider's plugin in the API server checks the signature with the connection's
   `webhook_secret` and records one Asset event on the collection's Asset — once per run, however
   often the API redelivers.
3. **Export** the run that event announces, into one folder per run.

No poll at all: nothing in the triggerer, no request until the export. Which collection: the
environment variable `SCRAPINGPROS_WEBHOOK_COLLECTION`. Where results go: the Variable
`scrapingpros_export_root`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_scrapingpros.assets import collection_asset
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator

COLLECTION_ID = os.environ.get("SCRAPINGPROS_WEBHOOK_COLLECTION", "your-collection-id")
EXPORT_ROOT = "{{ var.value.get('scrapingpros_export_root', 'file:///tmp/scrapingpros-exports') }}"

with DAG(
    dag_id="example_scrapingpros_webhook_export",
    schedule=[collection_asset(COLLECTION_ID)],  # no watcher: the webhook plugin records the events
    start_date=datetime(2026, 11, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["scrapingpros", "example"],
    doc_md=__doc__,
):
    ScrapingProsExportResultsOperator(
        task_id="export_run",
        destination=EXPORT_ROOT + "/webhooks/{collection_id}/{run_id}/",
        layout="files",
    )
