"""What every task shares (tasks/base.py): deadlines for triggers and the one timeout mapping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_scrapingpros.exceptions import ScrapingProsWaitTimeoutError
from airflow_provider_scrapingpros.tasks.base import AirflowTaskTimeout, execution_deadline, timeout_error
from tests.task_context import TaskInstanceStandIn, context_for


def test_execution_timeout_becomes_a_wall_clock_deadline_from_the_task_start() -> None:
    started = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    context = context_for(TaskInstanceStandIn(start_date=started))
    assert execution_deadline(context, timedelta(minutes=5)) == started.timestamp() + 300
    assert execution_deadline(context, None) is None


@pytest.mark.parametrize(
    ("deadline", "cls"),
    [("execution_timeout", AirflowTaskTimeout), ("timeout", ScrapingProsWaitTimeoutError)],
)
def test_each_deadline_raises_its_own_error(deadline: str, cls: type[BaseException]) -> None:
    error = timeout_error("Stopped waiting.", deadline)
    assert type(error) is cls and str(error) == "Stopped waiting."
    if isinstance(error, ScrapingProsWaitTimeoutError):
        assert error.deadline == "timeout"
