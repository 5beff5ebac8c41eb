"""Test DAGs for the export operator (tests/export/test_dags.py).

Inputs arrive through `dag_run.conf` (rendered as native objects): requests, destination, storage
connection, or the ids of a run created by the test itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict

from airflow.sdk import DAG, Asset, task

from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.operators.collections import (
    ScrapingProsCreateCollectionOperator,
    ScrapingProsRunCollectionOperator,
)
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator

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
EXPORTS = Asset("sp-export-results")


class StorageConf(TypedDict):
    destination: str
    storage_conn_id: str


CONF: StorageConf = {
    "destination": "{{ dag_run.conf['destination'] }}",
    "storage_conn_id": "{{ dag_run.conf.get('storage_conn_id') }}",
}


@task
def count_exported(summary: dict[str, Any]) -> dict[str, Any]:
    """Downstream reads only the summary: URIs and figures."""
    return {"manifest": summary["manifest"], "exported": summary["exported"], "jobs": summary["jobs"]}


with DAG(dag_id="sp_export_pipeline", **COMMON):
    create = ScrapingProsCreateCollectionOperator(
        task_id="create", name="export-pipeline", requests="{{ dag_run.conf['requests'] }}"
    )
    run = ScrapingProsRunCollectionOperator(
        task_id="run",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        deferrable=True,
        poll_interval=0.05,
    )
    export = ScrapingProsExportResultsOperator(
        task_id="export",
        collection_id="{{ ti.xcom_pull('run')['collection_id'] }}",
        run_id="{{ ti.xcom_pull('run')['run_id'] }}",
        layout="jsonl",
        outlets=[EXPORTS],
        **CONF,
    )
    run >> export
    count_exported(export.output)  # type: ignore[arg-type]  # XComArg


with DAG(dag_id="sp_export_follow", **COMMON):
    create = ScrapingProsCreateCollectionOperator(
        task_id="create", name="export-follow", requests="{{ dag_run.conf['requests'] }}"
    )
    start = ScrapingProsRunCollectionOperator(
        task_id="start",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        wait_for_completion=False,
    )
    start >> ScrapingProsExportResultsOperator(
        task_id="export",
        collection_id="{{ ti.xcom_pull('start')['collection_id'] }}",
        run_id="{{ ti.xcom_pull('start')['run_id'] }}",
        layout="jsonl",
        part_max_records=15,
        follow=True,
        poll_interval=0.05,
        follow_batch=20,
        **CONF,
    )


class CrashingStore(ExportStore):
    """Dies after `crash_after` writes, like a worker killed between two writes."""

    crash_after = 0

    def _count(self) -> None:
        super()._count()
        if self.writes == self.crash_after:
            raise RuntimeError(f"simulated worker crash after write {self.writes}")


class CrashOnFirstTry(ScrapingProsExportResultsOperator):
    def __init__(self, *, crash_after: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crash_after = crash_after
        self._crash = False

    def execute(self, context: Any) -> dict[str, Any]:
        self._crash = context["ti"].try_number == 1
        return super().execute(context)

    def _store(self) -> ExportStore:
        store = super()._store()
        if self._crash:
            store.__class__ = CrashingStore
            store.crash_after = self.crash_after  # type: ignore[attr-defined]
        return store


with DAG(dag_id="sp_export_crash_retry", **COMMON):
    CrashOnFirstTry(
        task_id="export",
        collection_id="{{ dag_run.conf['collection_id'] }}",
        run_id="{{ dag_run.conf['run_id'] }}",
        crash_after=60,
        retries=1,
        retry_delay=timedelta(0),
        **CONF,
    )


for on_expired in ("fail", "record"):
    with DAG(dag_id=f"sp_export_expired_{on_expired}", **COMMON):
        ScrapingProsExportResultsOperator(
            task_id="export",
            collection_id="{{ dag_run.conf['collection_id'] }}",
            run_id="{{ dag_run.conf['run_id'] }}",
            on_expired=on_expired,
            **CONF,
        )
