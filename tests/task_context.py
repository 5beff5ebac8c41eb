"""Task-context stand-ins for direct operator and sensor tests: `execute()` called as Airflow's task
runner calls it, with the parts of the context our tasks read (the task instance's ids and XCom push,
the DAG run's start, Airflow 3.3's `task_state_store`), against the session sandbox over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_scrapingpros.client.ratelimit import reset_budgets
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.conftest import connection_json

try:  # 3.3 home of the exception a task raises to defer
    from airflow.sdk.exceptions import TaskDeferred  # type: ignore[attr-defined]
except ImportError:  # Airflow < 3.3
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined]

__all__ = ["TaskDeferred", "conn", "context_for", "frozen", "run_trigger"]


@dataclass
class TaskInstanceStandIn:
    """The task instance attributes our tasks read; XCom pushes are kept for the test to check."""

    task_id: str = "task"
    dag_id: str = "dag"
    run_id: str = "manual__2026-12-01"
    map_index: int = -1
    try_number: int = 1
    start_date: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@dataclass
class StateStoreStandIn:
    """Airflow 3.3's per-task-instance `task_state_store`: survives retries of the same instance."""

    values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def set(self, key: str, value: Any, retention: timedelta | None = None) -> None:
        self.values[key] = value


@dataclass
class DagRunStandIn:
    start_date: datetime = field(default_factory=lambda: datetime.now(timezone.utc) - timedelta(minutes=1))


def context_for(
    ti: TaskInstanceStandIn | None = None, store: StateStoreStandIn | None = None
) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": ti or TaskInstanceStandIn(), "dag_run": DagRunStandIn()}
    if store is not None:
        context["task_state_store"] = store
    return context


def run_trigger(trigger: Any) -> dict[str, Any]:
    """Drive a trigger to its one event, as the triggerer would."""

    async def events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    (event,) = asyncio.run(asyncio.wait_for(events(), timeout=30))
    return event


@contextlib.contextmanager
def frozen(sp: SandboxControl) -> Iterator[None]:
    """The sandbox clock stands still inside: a run started there stays in progress, so a task
    defers instead of finding it finished at its first look."""
    sp.freeze()
    try:
        yield
    finally:
        sp.resume()


@pytest.fixture
def conn(sp: SandboxControl, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxControl]:
    monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", connection_json(sp.base_url))
    reset_budgets()
    yield sp
    reset_budgets()
