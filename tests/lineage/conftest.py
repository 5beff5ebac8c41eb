"""Fixtures of the lineage tests: `emit` runs a DAG from tests/lineage/dags in a fresh process with
the OpenLineage provider's file transport on, and returns its task states, XComs and events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import airflow_db, sp_conn  # noqa: F401 (fixtures)
from tests.export.conftest import make_bucket, moto_endpoint  # noqa: F401 (fixtures)

DAGS = Path(__file__).parent / "dags"
ROOT = Path(__file__).parents[2]


@dataclass
class Emitted:
    states: dict[str, str]
    xcoms: dict[str, Any]
    events: list[dict[str, Any]]

    def all(self, task_id: str, event_type: str) -> list[dict[str, Any]]:
        """A task's events of `event_type` (START, COMPLETE, FAIL); a deferred task starts twice."""
        return [
            e
            for e in self.events
            if e.get("eventType") == event_type and e["job"]["name"].endswith(f".{task_id}")
        ]

    def task(self, task_id: str, event_type: str) -> dict[str, Any]:
        """The one event of `event_type` for a task."""
        found = self.all(task_id, event_type)
        assert len(found) == 1, (
            task_id,
            event_type,
            [(e["eventType"], e["job"]["name"]) for e in self.events],
        )
        return found[0]


def datasets(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in items]


@pytest.fixture
def emit(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Emitted]:
    request.getfixturevalue("sp_conn")  # the sandbox, reset, as scrapingpros_default (in os.environ)

    def run(dag_id: str, conf: dict[str, Any]) -> Emitted:
        events_file = tmp_path / f"{dag_id}-events.jsonl"
        result_file = tmp_path / f"{dag_id}-result.json"
        env = {
            **os.environ,
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(events_file), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "sp-lineage-tests",
        }
        done = subprocess.run(
            [sys.executable, "-m", "tests.lineage.emit", dag_id, json.dumps(conf), str(result_file)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr[-5000:]
        result = json.loads(result_file.read_text())
        (tmp_path / f"{dag_id}.log").write_text(done.stdout + done.stderr)  # for a failing assertion
        lines = events_file.read_text().splitlines() if events_file.exists() else []
        return Emitted(result["states"], result["xcoms"], [json.loads(line) for line in lines if line])

    return run
