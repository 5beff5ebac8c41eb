"""Whole-DAG tests: a migrated SQLite Airflow DB once per session, and the `scrapingpros_default`
connection pointed at the session sandbox through an AIRFLOW_CONN_* variable (no DB row needed)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.conftest import connection_json


@pytest.fixture(scope="session")
def airflow_db() -> None:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture
def sp_conn(
    sandbox: Sandbox, sp: SandboxControl, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> SandboxControl:
    """The reset session sandbox, reachable from DAGs as `scrapingpros_default`."""
    monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", connection_json(sandbox.base_url))
    return sp


@functools.cache
def dag_bag() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        # The same class's 3.1 home; on 3.3 mypy also sees this deprecated re-export (a module __getattr__).
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    return bag


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    """`dag.test()` on a DAG from tests/dags; returns the DagRun (dag.test does not raise on failure)."""
    return dag_bag().get_dag(dag_id).test(run_conf=conf or {})


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


@pytest.fixture
def xcom() -> Iterator[Any]:
    def pull(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
                .one()
            )
            return XComModel.deserialize_value(row)

    yield pull
