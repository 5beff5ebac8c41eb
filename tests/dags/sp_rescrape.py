"""Test DAGs for rescraping (tests/e2e/test_rescrape.py, tests/export/test_merged.py).

`sp_rescrape`: create → run → rescrape (two rounds by default) → merged export, everything from
`dag_run.conf`. `sp_export_merged`: a merged export of a chain given in `conf["runs"]`, once through
a non-native Jinja template (the list arrives as Python text) and once as an XComArg.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, get_current_context, task

from airflow_provider_scrapingpros.operators.collections import ScrapingProsCreateCollectionOperator
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.operators.rescrape import ScrapingProsRescrapeOperator
from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator


def create_and_run() -> ScrapingProsRunCollectionOperator:
    """create (name and requests from the conf) >> a deferrable run: the start of every DAG here."""
    create = ScrapingProsCreateCollectionOperator(
        task_id="create", name="{{ dag_run.conf['name'] }}", requests="{{ dag_run.conf['requests'] }}"
    )
    run = ScrapingProsRunCollectionOperator(
        task_id="run",
        collection_id=create.output,  # type: ignore[arg-type]  # XComArg
        deferrable=True,
        poll_interval=0.05,
        retries=0,
    )
    return run


RESCRAPE_FROM_RUN: dict[str, Any] = {
    "collection_id": "{{ ti.xcom_pull('run')['collection_id'] }}",
    "run_id": "{{ ti.xcom_pull('run')['run_id'] }}",
    "requests": "{{ dag_run.conf['requests'] }}",
    "poll_interval": 0.05,
}


with DAG(
    dag_id="sp_rescrape",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
):
    run = create_and_run()
    rescrape = ScrapingProsRescrapeOperator(
        task_id="rescrape",
        **RESCRAPE_FROM_RUN,
        deferrable=True,
        retries=0,
    )
    (
        run
        >> rescrape
        >> ScrapingProsExportResultsOperator(
            task_id="export",
            run_ids="{{ ti.xcom_pull('rescrape')['runs'] }}",
            destination="{{ dag_run.conf['destination'] }}",
            layout="files",
        )
    )


with DAG(dag_id="sp_export_merged", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def chain() -> dict[str, Any]:  # stands in for the rescrape operator's return value
        runs: list[dict[str, str]] = (get_current_context()["dag_run"].conf or {})["runs"]
        return {"collection_id": runs[0]["collection_id"], "run_id": runs[0]["run_id"], "runs": runs}

    @task
    def chain_runs() -> list[dict[str, str]]:
        runs: list[dict[str, str]] = (get_current_context()["dag_run"].conf or {})["runs"]
        return runs

    upstream = chain()
    upstream >> ScrapingProsExportResultsOperator(
        task_id="export_text",
        run_ids="{{ ti.xcom_pull('chain')['runs'] }}",
        destination="{{ dag_run.conf['destination'] }}text/",
        layout="files",
    )
    upstream >> ScrapingProsExportResultsOperator(
        task_id="export_arg",
        run_ids=chain_runs(),
        destination="{{ dag_run.conf['destination'] }}arg/",
        layout="files",
    )


class CrashingRescrape(ScrapingProsRescrapeOperator):
    """Simulates a worker dying on the first try at `conf["crash"]`: right after round 1's collection
    was created (`collection`), after its run was started and before the wait (`run`), or after
    round 1 ended in the triggerer (`ended`)."""

    def _crash(self, phase: str) -> None:
        context = get_current_context()
        if context["ti"].try_number == 1 and (context["dag_run"].conf or {}).get("crash") == phase:
            raise RuntimeError(f"simulated worker crash ({phase})")

    def _start_round(self, rounds: list[Any], current: Any) -> str | None:
        self._crash("collection")
        return super()._start_round(rounds, current)

    def wait_for_run(self, context: Any, *args: Any, **kwargs: Any) -> Any:
        self._crash("run")
        return super().wait_for_run(context, *args, **kwargs)

    def round_ended(self, context: Any, event: Any, chain: list[dict[str, Any]]) -> dict[str, Any]:
        if len(chain) == 2:  # round 1
            self._crash("ended")
        return super().round_ended(context, event, chain)


with DAG(
    dag_id="sp_rescrape_crash",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
):
    run = create_and_run()
    run >> CrashingRescrape(
        task_id="rescrape",
        **RESCRAPE_FROM_RUN,
        deferrable=True,
        retries=1,
        retry_delay=timedelta(0),
    )


CAPPED_MAX_CREDITS = 40  # 100 URLs: round 1 costs 22 (plain), round 2 would add 35 (7 browser pages)

with DAG(
    dag_id="sp_rescrape_capped",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
):
    run = create_and_run()
    run >> ScrapingProsRescrapeOperator(
        task_id="rescrape",
        **RESCRAPE_FROM_RUN,
        max_credits=CAPPED_MAX_CREDITS,
        deferrable=False,  # the worker-side wait, for once
        retries=0,
    )
