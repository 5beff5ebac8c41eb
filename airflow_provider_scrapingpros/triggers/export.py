"""ScrapingProsExportFollowTrigger: wakes a following export when enough new jobs have finished.

The export writes everything terminal, then defers here so no worker slot is held while the run
goes on. The trigger polls the run (async hook only: nothing blocks the triggerer's loop) and fires
once the run has `wake_at_done` terminal jobs or is terminal itself; the export's state lives in
the destination, so the event carries no data beyond a status. Deadlines, terminal statuses and
transient errors are decided by the same `RunWatcher` the run trigger uses.

`not_before`: the export found another task writing the same destination; the first look waits
until its claim lapses (or a renewal period), so the next pass takes over or finds it finished.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import DEFAULT_CONN_ID
from .polling import RunPollingTrigger

if TYPE_CHECKING:  # imported at run time by the methods, off the loop first (see polling.py)
    from ..runs.events import ExportWakeEvent


class ScrapingProsExportFollowTrigger(RunPollingTrigger):
    serialized_fields = (
        "collection_id",
        "run_id",
        "wake_at_done",
        "scrapingpros_conn_id",
        "poll_interval",
        "execution_deadline",
        "not_before",
    )

    def __init__(
        self,
        collection_id: str,
        run_id: str,
        wake_at_done: int,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float | None = None,
        execution_deadline: float | None = None,
        not_before: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.collection_id = collection_id
        self.run_id = run_id
        self.wake_at_done = wake_at_done
        self.scrapingpros_conn_id = scrapingpros_conn_id
        self.poll_interval = poll_interval
        self.execution_deadline = execution_deadline
        self.not_before = not_before

    async def wait(self) -> ExportWakeEvent:
        from ..client.models import Run
        from ..runs.events import ExportWakeEvent
        from ..runs.watcher import Deadlines

        watcher = self.watcher(Deadlines(execution_deadline=self.execution_deadline))
        # terminal (completed, failed, cancelled) or enough new jobs: export them
        result = await self.poll(
            watcher,
            until=lambda run: run.is_terminal or run.done >= self.wake_at_done,
            first_poll_at=self.not_before,
        )
        if isinstance(result, Run):
            return self.event(
                ExportWakeEvent, "ready", "More jobs to export.", done=result.done, run_status=result.status
            )
        if result.status == "timeout":
            return self.event(ExportWakeEvent, "timeout", result.message, deadline=result.deadline)
        return self.error_event(result.message)

    def error_event(self, message: str) -> ExportWakeEvent:
        from ..runs.events import ExportWakeEvent

        return self.event(ExportWakeEvent, "error", message)
