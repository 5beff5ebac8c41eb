"""What every ScrapingPros task shares: the connection id, a lazily built hook, and (Airflow 3.3+)
a retry policy that does not waste retries on errors a retry cannot fix."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..exceptions import ScrapingProsWaitTimeoutError
from .retry_policy import default_retry_policy

if TYPE_CHECKING:
    from ..hooks.scrapingpros import ScrapingProsHook


try:
    from airflow.sdk.exceptions import AirflowTaskTimeout  # type: ignore[attr-defined]  # 3.1 lacks it
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import AirflowTaskTimeout  # type: ignore[no-redef]

__all__ = [
    "AirflowTaskTimeout",
    "ScrapingProsTaskMixin",
    "default_deferrable",
    "execution_deadline",
    "timeout_error",
]


def timeout_error(message: str, deadline: str | None) -> BaseException:
    """The error for a wait that reached a deadline. The task's own `execution_timeout` raises
    Airflow's `AirflowTaskTimeout`, so it reads (and retries) like any other execution timeout; the
    wait's `timeout` raises ours."""
    if deadline == "execution_timeout":
        timeout: BaseException = AirflowTaskTimeout(message)  # untyped on Airflow 3.1
        return timeout
    return ScrapingProsWaitTimeoutError(message, deadline=deadline)


def execution_deadline(context: Any, execution_timeout: timedelta | None) -> float | None:
    """The task's `execution_timeout` as a wall-clock epoch, for triggers: Airflow 3 does not apply
    execution_timeout while a task is deferred, so our triggers enforce it themselves."""
    if execution_timeout is None:
        return None
    started = getattr(context["ti"], "start_date", None)
    base = started.timestamp() if started is not None else time.time()
    return base + execution_timeout.total_seconds()


def default_deferrable() -> bool:
    conf: Any
    try:
        from airflow.sdk import conf  # type: ignore[attr-defined,no-redef]  # 3.1 lacks it
    except ImportError:  # Airflow < 3.2
        from airflow.configuration import conf
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


class ScrapingProsTaskMixin:
    """Mixed into operators and the sensor (which derive from different Airflow bases)."""

    scrapingpros_conn_id: str

    @staticmethod
    def _with_retry_policy(kwargs: dict[str, Any]) -> dict[str, Any]:
        policy = default_retry_policy()
        if policy is not None and kwargs.get("retry_policy") is None:
            kwargs["retry_policy"] = policy
        return kwargs

    @cached_property
    def hook(self) -> ScrapingProsHook:
        # Imported here: DAG files import operators at parse time; requests/httpx are not needed then.
        from ..hooks.scrapingpros import ScrapingProsHook

        return ScrapingProsHook(scrapingpros_conn_id=self.scrapingpros_conn_id)
