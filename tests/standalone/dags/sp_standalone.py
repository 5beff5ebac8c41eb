"""A deferrable DAG for the real scheduler + triggerer lane (tests/standalone/lane.py)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_scrapingpros.operators.collections import (
    ScrapingProsCreateCollectionOperator,
    ScrapingProsRunCollectionOperator,
)

# `collection_id=create.output` hands the task the upstream task's XCom, which Airflow pulls before the
# task runs. Airflow types `.output` as XComArg, not as the value it stands for (the mypy plugin Airflow
# uses on its own DAGs to type it as Any is not shipped), so that line carries a `type: ignore[arg-type]`.
with DAG(dag_id="sp_standalone", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    create = ScrapingProsCreateCollectionOperator(
        task_id="create",
        name="standalone-lane",
        # 50 s simulated latency at time_scale 0.02: ~1 s of real time, long enough to defer
        requests=[f"https://example.com/page/{i}?sp_latency_ms=50000" for i in range(20)],
    )
    ScrapingProsRunCollectionOperator(
        task_id="run",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        deferrable=True,
        poll_interval=1.0,
    )
