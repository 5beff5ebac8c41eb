"""DAGs of the distributed lane (tests/distributed/lane.py), run by CeleryExecutor on two workers.

Sizes come from the environment at parse time (the lane sets them); what a DAG run works on comes
from its `conf`. Every task retries twice, 2 s apart, so a killed worker's task is retried at once
on the other worker once the scheduler has declared it lost (task_instance_heartbeat_timeout).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_scrapingpros.operators.collections import ScrapingProsCreateCollectionOperator
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator

RETRIES: dict[str, Any] = {"retries": 2, "retry_delay": timedelta(seconds=2)}
START = datetime(2026, 1, 1)
BUCKET = os.environ.get("SP_DIST_BUCKET", "sp-distributed")
MANY = int(os.environ.get("SP_DIST_MANY", "20"))
PLAN_COLLECTIONS = int(os.environ.get("SP_DIST_PLAN_COLLECTIONS", "20"))
PLAN_JOBS = int(os.environ.get("SP_DIST_PLAN_JOBS", "200"))
PLAN_POOL = os.environ.get("SP_DIST_PLAN_POOL", "default_pool")
# The killed export's retry: 2 s like every task here, or, to outlast the export claim's lease
# (export/claim.py LEASE_S, 120 s) when the retry lands on another host, e.g. 130.
EXPORT_RETRY_DELAY = timedelta(seconds=float(os.environ.get("SP_DIST_EXPORT_RETRY_DELAY", "2")))
# An hour of simulated fetch time: the runs end when the lane advances the sandbox clock.
HELD = "sp_latency_ms=3600000"
CONF = "{{ dag_run.conf[%r] }}"


def conf(key: str) -> str:
    return CONF % key


# (3) a run task whose worker is killed between POST …/run and the defer
with DAG(dag_id="sp_dist_reattach", schedule=None, start_date=START, catchup=False, default_args=RETRIES):
    reattach_collection = ScrapingProsCreateCollectionOperator(
        task_id="create",
        name="reattach-{{ run_id }}",
        requests=[f"https://example.com/reattach/{i}?sp_latency_ms=3000" for i in range(5)],
    )
    ScrapingProsRunCollectionOperator(
        task_id="run",
        collection_id=reattach_collection.output,  # type: ignore[arg-type]  # XComArg
        deferrable=True,
        poll_interval=1.0,
    )

# (2) an export whose worker is killed while it writes
with DAG(dag_id="sp_dist_export", schedule=None, start_date=START, catchup=False, default_args=RETRIES):
    ScrapingProsExportResultsOperator(
        task_id="export",
        collection_id=conf("collection_id"),
        run_id=conf("run_id"),
        destination=conf("destination"),
        storage_conn_id="aws_s3",
        layout="files",
        follow=False,
        max_concurrency=4,
        retry_delay=EXPORT_RETRY_DELAY,
    )

# (4), (6) many runs deferred at once, across both triggerers
with DAG(dag_id="sp_dist_many", schedule=None, start_date=START, catchup=False, default_args=RETRIES):
    many_collections = ScrapingProsCreateCollectionOperator.partial(task_id="create").expand_kwargs(
        [
            {"name": f"many-{{{{ run_id }}}}-{i}", "requests": [f"https://example.com/many/{i}/0?{HELD}"]}
            for i in range(MANY)
        ]
    )
    ScrapingProsRunCollectionOperator.partial(task_id="run", deferrable=True, poll_interval=2.0).expand(
        collection_id=many_collections.output
    )

# (5) two exports of the same run into the same destination at the same time, in both layouts
with DAG(dag_id="sp_dist_race", schedule=None, start_date=START, catchup=False, default_args=RETRIES):
    for layout in ("files", "jsonl"):
        for attempt in ("a", "b"):
            ScrapingProsExportResultsOperator(
                task_id=f"{layout}_{attempt}",
                collection_id=conf("collection_id"),
                run_id=conf("run_id"),
                destination=CONF % layout,
                storage_conn_id="aws_s3",
                layout=layout,  # type: ignore[arg-type]  # the loop's literals
                follow=False,
                max_concurrency=4,
                part_max_records=500,
            )


def plan_export(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "collection_id": run["collection_id"],
        "run_id": run["run_id"],
        "destination": f"s3://{BUCKET}/plan/{run['run_id']}/",
    }


# (1) one token on a small plan, shared by every mapped task on both workers and both triggerers
with DAG(dag_id="sp_dist_plan", schedule=None, start_date=START, catchup=False, default_args=RETRIES):
    plan_kwargs: dict[str, Any] = {"scrapingpros_conn_id": "scrapingpros_plan", "pool": PLAN_POOL}
    plan_collections = ScrapingProsCreateCollectionOperator.partial(
        task_id="create", **plan_kwargs
    ).expand_kwargs(
        [
            {
                "name": f"plan-{{{{ run_id }}}}-{i}",
                "requests": [f"https://example.com/plan/{i}/{j}" for j in range(PLAN_JOBS)],
            }
            for i in range(PLAN_COLLECTIONS)
        ]
    )
    plan_runs = ScrapingProsRunCollectionOperator.partial(
        task_id="run", deferrable=True, poll_interval=15.0, **plan_kwargs
    ).expand(collection_id=plan_collections.output)
    ScrapingProsExportResultsOperator.partial(
        task_id="export", storage_conn_id="aws_s3", layout="jsonl", follow=False, **plan_kwargs
    ).expand_kwargs(plan_runs.output.map(plan_export))
