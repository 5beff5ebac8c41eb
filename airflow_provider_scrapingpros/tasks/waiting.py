"""The Airflow side of waiting for a run, shared by the run operator and the sensor: check once, then
either defer to the trigger (no worker slot held) or poll in the worker, and finish both paths through
the same `conclude()` so the task returns the same dict in every mode."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from ..exceptions import ScrapingProsError, ScrapingProsInputError, ScrapingProsWaitTimeoutError
from ..runs.events import WaitEvent, conclude
from ..runs.verdict import RunResult
from ..runs.watcher import Deadlines, RunWatcher, wait_sync
from .base import ScrapingProsTaskMixin, execution_deadline, timeout_error
from .cost import with_cost

WAIT_STATE_XCOM_KEY = "scrapingpros_wait_state"


def seconds(value: timedelta | float | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


def check_wait_options(*, max_failed_ratio: float | None, poll_interval: float | None) -> None:
    """The run operator's and the sensor's shared options, checked when the DAG is parsed."""
    if max_failed_ratio is not None and not 0 <= max_failed_ratio <= 1:
        raise ScrapingProsInputError(
            f"max_failed_ratio must be between 0 and 1, got {max_failed_ratio!r}.",
            errors=[("max_failed_ratio", "must be between 0 and 1")],
        )
    if poll_interval is not None and poll_interval <= 0:
        raise ScrapingProsInputError(
            f"poll_interval must be positive seconds, got {poll_interval!r}.",
            errors=[("poll_interval", "must be positive seconds")],
        )


class RunWaitMixin(ScrapingProsTaskMixin):
    deferrable: bool
    poll_interval: float | None
    max_failed_ratio: float | None
    execution_timeout: timedelta | None
    log: Any

    if TYPE_CHECKING:  # provided by BaseOperator; a real stub here would shadow it in the MRO

        def defer(self, **kwargs: Any) -> NoReturn: ...

    def _deadlines(self, context: Any, wait_timeout: float | None) -> Deadlines:
        return Deadlines(
            timeout_at=time.time() + wait_timeout if wait_timeout is not None else None,
            execution_deadline=execution_deadline(context, self.execution_timeout),
        )

    def _watcher(self, collection_id: str, run_id: str, deadlines: Deadlines) -> RunWatcher:
        return RunWatcher(
            collection_id, run_id, deadlines=deadlines, poll_interval=self.poll_interval, log=self.log
        )

    def wait_for_run(
        self,
        context: Any,
        collection_id: str,
        run_id: str,
        wait_timeout: float | None,
        *,
        then: str = "execute_complete",
        state: dict[str, Any] | None = None,
    ) -> Any:
        """Wait, then call `self.<then>(context, event, **state)` — at once, in the worker, or after the
        trigger fired: one continuation for every path. `state` must be small JSON (ids and counts:
        never page content). Across a deferral it is kept in this task instance's XCom, not in the
        deferral's kwargs, which `dag.test()` replaces by the event alone."""
        from ..triggers.run import ScrapingProsRunTrigger

        state = state or {}
        deadlines = self._deadlines(context, wait_timeout)
        watcher = self._watcher(collection_id, run_id, deadlines)
        # Check once before deferring: an already-finished run (a reattach, an empty collection)
        # must not cost a round trip through the triggerer.
        step = watcher.observe(self.hook.get_run(collection_id, run_id), time.time())
        if isinstance(step, WaitEvent):
            return getattr(self, then)(context, step, **state)
        if self.deferrable:
            self.defer(
                trigger=ScrapingProsRunTrigger(
                    collection_id=collection_id,
                    run_id=run_id,
                    scrapingpros_conn_id=self.scrapingpros_conn_id,
                    poll_interval=self.poll_interval,
                    timeout_at=deadlines.timeout_at,
                    execution_deadline=deadlines.execution_deadline,
                    first_poll_at=time.time() + step,  # we just polled: don't ask again at once
                ),
                method_name=self._parked(context, then, state),
                # None on purpose: our deadlines travel inside the trigger, so a timeout still ends in
                # execute_complete with a clear message instead of Airflow's bare trigger timeout.
                timeout=None,
            )
        event = wait_sync(
            lambda max_wait: self.hook.get_run(collection_id, run_id, max_wait=max_wait), watcher
        )
        return getattr(self, then)(context, event, **state)

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]:
        return self.finish(context, event)

    def _parked(self, context: Any, then: str, state: dict[str, Any]) -> str:
        """The method the deferral resumes in; a continuation with state goes through XCom."""
        if then == "execute_complete" and not state:
            return then
        # Airflow keeps a task instance's XComs while it is deferred (they are cleared per try).
        context["ti"].xcom_push(key=WAIT_STATE_XCOM_KEY, value={"then": then, "state": state})
        return "resume_wait"

    def resume_wait(self, context: Any, event: Any = None) -> Any:
        ti = context["ti"]
        parked = ti.xcom_pull(task_ids=ti.task_id, key=WAIT_STATE_XCOM_KEY, map_indexes=ti.map_index)
        if not isinstance(parked, dict) or not isinstance(parked.get("state"), dict):
            raise ScrapingProsError(
                f"{ti.task_id}: resumed after its wait, but the state it kept in XCom "
                f"({WAIT_STATE_XCOM_KEY!r}) is missing. Clear the task to start it again: it adopts the "
                "collections and runs it already started."
            )
        return getattr(self, str(parked["then"]))(context, event, **parked["state"])

    def given_credits(self) -> int | None:
        """The task's own cost estimate (the run operator's `estimated_credits`)."""
        return None

    def finish(self, context: Any, event: Any) -> dict[str, Any]:
        try:
            result: RunResult = conclude(event, self.hook.run_url, max_failed_ratio=self.max_failed_ratio)
        except ScrapingProsWaitTimeoutError as exc:
            raise timeout_error(str(exc), exc.deadline) from None
        self.log.info("Run %s finished: %s (%s).", result.run_id, result.status, result.outcome)
        return with_cost(context, self, result, self.given_credits())
