"""ScrapingProsExportFollowTrigger: wakes a following export when enough new jobs have finished.

The export writes everything terminal, then defers here so no worker slot is held while the run
goes on. The trigger polls the run (async hook only: nothing blocks the triggerer's loop) and fires
once the run has `wake_at_done` terminal jobs or is terminal itself; the export's state lives in
the destination, so the event carries no data beyond a status. Deadlines, terminal statuses and
transient errors are decided by the same `RunWatcher` the run trigger uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from airflow.triggers.base import TriggerEvent
from pydantic import BaseModel, ConfigDict

from .. import DEFAULT_CONN_ID
from ..models import Run
from ..watch import DeadlineKind, Deadlines, RunWatcher
from ._base import RunPollingTrigger


class ExportWakeEvent(BaseModel):
    """The trigger's event (plain JSON). `ready`: export more; else stop with `message`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["ready", "timeout", "error"]
    collection_id: str
    run_id: str
    message: str
    done: int | None = None
    run_status: str | None = None
    deadline: DeadlineKind | None = None


class ScrapingProsExportFollowTrigger(RunPollingTrigger):
    serialized_fields = (
        "collection_id",
        "run_id",
        "wake_at_done",
        "scrapingpros_conn_id",
        "poll_interval",
        "execution_deadline",
    )

    def __init__(
        self,
        collection_id: str,
        run_id: str,
        wake_at_done: int,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float | None = None,
        execution_deadline: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.collection_id = collection_id
        self.run_id = run_id
        self.wake_at_done = wake_at_done
        self.scrapingpros_conn_id = scrapingpros_conn_id
        self.poll_interval = poll_interval
        self.execution_deadline = execution_deadline

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except Exception as exc:  # fail closed with a readable event rather than a bare trigger crash
            event = self._event("error", f"Following run {self.run_id} failed: {type(exc).__name__}: {exc}")
        yield TriggerEvent(event.model_dump(mode="json"))  # type: ignore[no-untyped-call]

    async def _wait(self) -> ExportWakeEvent:
        watcher = RunWatcher(
            self.collection_id,
            self.run_id,
            deadlines=Deadlines(execution_deadline=self.execution_deadline),
            poll_interval=self.poll_interval,
            log=self.log,  # type: ignore[arg-type]  # structlog-style logger, same methods
        )
        # terminal (completed, failed, cancelled) or enough new jobs: export them
        result = await self.poll(watcher, until=lambda run: run.is_terminal or run.done >= self.wake_at_done)
        if isinstance(result, Run):
            return self._event("ready", "More jobs to export.", done=result.done, run_status=result.status)
        if result.status == "timeout":
            return self._event("timeout", result.message, deadline=result.deadline)
        return self._event("error", result.message)

    def _event(
        self,
        status: Literal["ready", "timeout", "error"],
        message: str,
        *,
        done: int | None = None,
        run_status: str | None = None,
        deadline: DeadlineKind | None = None,
    ) -> ExportWakeEvent:
        return ExportWakeEvent(
            status=status,
            collection_id=self.collection_id,
            run_id=self.run_id,
            message=message,
            done=done,
            run_status=run_status,
            deadline=deadline,
        )
