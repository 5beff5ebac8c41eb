"""ScrapingProsRunTrigger: waits for a run in the triggerer's event loop.

Async only: the httpx transport and the async connection lookup, `asyncio.sleep` between polls —
nothing here may block the loop that hundreds of other triggers share. The decisions (terminal or
not, transient error or not, deadline passed or not, how long to sleep) come from `RunWatcher`, the
same state machine the worker-side wait uses. It emits exactly one event, made only of plain JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import DEFAULT_CONN_ID
from .polling import RunPollingTrigger

if TYPE_CHECKING:  # imported at run time by the methods, off the loop first (see polling.py)
    from ..runs.events import WaitEvent


class ScrapingProsRunTrigger(RunPollingTrigger):
    serialized_fields = (
        "collection_id",
        "run_id",
        "scrapingpros_conn_id",
        "poll_interval",
        "timeout_at",
        "execution_deadline",
        "first_poll_at",
    )

    def __init__(
        self,
        collection_id: str,
        run_id: str,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float | None = None,
        timeout_at: float | None = None,
        execution_deadline: float | None = None,
        first_poll_at: float | None = None,
    ) -> None:
        super().__init__()
        self.collection_id = collection_id
        self.run_id = run_id
        self.scrapingpros_conn_id = scrapingpros_conn_id
        self.poll_interval = poll_interval
        self.timeout_at = timeout_at
        self.execution_deadline = execution_deadline
        self.first_poll_at = first_poll_at

    async def wait(self) -> WaitEvent:
        from ..runs.events import WaitEvent
        from ..runs.watcher import Deadlines

        watcher = self.watcher(
            Deadlines(timeout_at=self.timeout_at, execution_deadline=self.execution_deadline)
        )
        # no `until`: only the watcher ends this wait
        result = await self.poll(watcher, first_poll_at=self.first_poll_at)
        assert isinstance(result, WaitEvent)
        return result

    def error_event(self, message: str) -> WaitEvent:
        from ..runs.events import WaitEvent

        return self.event(WaitEvent, "error", message)
