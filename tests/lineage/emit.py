"""Run one DAG of tests/lineage/dags under `dag.test()` in this process, with OpenLineage on.

A process of its own because the OpenLineage provider decides at plugin load whether its listener
exists, from `[openlineage]` config read once per process: the rest of the suite runs with it off.
Writes `{"states": {task_id: state}, "xcoms": {task_id: return value}}` as JSON to `out_path`
(stdout also carries the task logs)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def main(dag_id: str, conf_json: str, out_path: str) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    dag_run = bag.get_dag(dag_id).test(run_conf=json.loads(conf_json))
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    xcoms: dict[str, Any] = {}
    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=dag_run.run_id, key="return_value")
        for row in rows:
            xcoms[str(row.task_id)] = XComModel.deserialize_value(row)
    with open(out_path, "w") as out:
        json.dump({"states": states, "xcoms": xcoms}, out, default=str)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
