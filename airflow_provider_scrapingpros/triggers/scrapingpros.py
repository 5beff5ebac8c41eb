"""ScrapingProsRunTrigger: waits for a run in the triggerer's event loop.

Async only: the httpx transport and the async connection lookup, `asyncio.sleep` between polls —
nothing here may block the loop that hundreds of other triggers share. The decisions (terminal or
not, transient error or not, deadline passed or not, how long to sleep) come from `RunWatcher`, the
same state machine the worker-side wait uses. It emits exactly one event, made only of plain JSON.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from .. import DEFAULT_CONN_ID
from ..exceptions import ScrapingProsError
from ..watch import Deadlines, RunWatcher, WaitEvent

if TYPE_CHECKING:
    from ..hooks.scrapingpros import ScrapingProsHook


class ScrapingProsRunTrigger(BaseTrigger):
    def __init__(
        self,
        collection_id: str,
        run_id: str,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float | None = None,
        timeout_at: float | None = None,
        execution_deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.collection_id = collection_id
        self.run_id = run_id
        self.scrapingpros_conn_id = scrapingpros_conn_id
        self.poll_interval = poll_interval
        self.timeout_at = timeout_at
        self.execution_deadline = execution_deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "collection_id": self.collection_id,
                "run_id": self.run_id,
                "scrapingpros_conn_id": self.scrapingpros_conn_id,
                "poll_interval": self.poll_interval,
                "timeout_at": self.timeout_at,
                "execution_deadline": self.execution_deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watcher = RunWatcher(
            self.collection_id,
            self.run_id,
            deadlines=Deadlines(timeout_at=self.timeout_at, execution_deadline=self.execution_deadline),
            poll_interval=self.poll_interval,
            log=self.log,
        )
        try:
            event = await self._watch(watcher)
        except Exception as exc:  # fail closed with a readable event rather than a bare trigger crash
            event = WaitEvent(
                status="error",
                collection_id=self.collection_id,
                run_id=self.run_id,
                message=f"Watching run {self.run_id} failed: {type(exc).__name__}: {exc}",
            )
        yield TriggerEvent(event.model_dump(mode="json"))

    async def _watch(self, watcher: RunWatcher) -> WaitEvent:
        from ..hooks.scrapingpros import ScrapingProsHook

        hook = ScrapingProsHook(scrapingpros_conn_id=self.scrapingpros_conn_id)
        async with hook.async_session():  # one pooled client for every poll of this run
            return await self._poll(hook, watcher)

    async def _poll(self, hook: ScrapingProsHook, watcher: RunWatcher) -> WaitEvent:
        while True:
            if (event := watcher.deadline_event(time.time())) is not None:
                return event
            try:
                step = watcher.observe(await hook.aget_run(self.collection_id, self.run_id), time.time())
            except ScrapingProsError as exc:
                step = watcher.on_error(exc, time.time())
            if isinstance(step, WaitEvent):
                return step
            await asyncio.sleep(step)
