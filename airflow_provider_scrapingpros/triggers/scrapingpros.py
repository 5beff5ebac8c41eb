"""ScrapingProsRunTrigger: waits for a run in the triggerer's event loop.

Async only: the httpx transport and the async connection lookup, `asyncio.sleep` between polls —
nothing here may block the loop that hundreds of other triggers share. The decisions (terminal or
not, transient error or not, deadline passed or not, how long to sleep) come from `RunWatcher`, the
same state machine the worker-side wait uses. It emits exactly one event, made only of plain JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from airflow.triggers.base import TriggerEvent

from .. import DEFAULT_CONN_ID
from ..watch import Deadlines, RunWatcher, WaitEvent
from ._base import RunPollingTrigger


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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watcher = RunWatcher(
            self.collection_id,
            self.run_id,
            deadlines=Deadlines(timeout_at=self.timeout_at, execution_deadline=self.execution_deadline),
            poll_interval=self.poll_interval,
            log=self.log,
        )
        try:
            # no `until`: only the watcher ends this wait
            result = await self.poll(watcher, first_poll_at=self.first_poll_at)
            assert isinstance(result, WaitEvent)
            event = result
        except Exception as exc:  # fail closed with a readable event rather than a bare trigger crash
            event = WaitEvent(
                status="error",
                collection_id=self.collection_id,
                run_id=self.run_id,
                message=f"Watching run {self.run_id} failed: {type(exc).__name__}: {exc}",
            )
        yield TriggerEvent(event.model_dump(mode="json"))
