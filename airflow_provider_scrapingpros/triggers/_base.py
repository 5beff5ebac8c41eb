"""What every ScrapingPros trigger shares: plain-JSON serialization of its constructor arguments and
the async poll loop over one pooled HTTP client. Each trigger only says when to stop and what event
to emit; deadlines, terminal states and transient errors are `RunWatcher`'s decisions."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import Callable
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger

from ..exceptions import ScrapingProsError
from ..hooks.scrapingpros import ScrapingProsHook  # at import, never on the event loop
from ..models import Run
from ..watch import RunWatcher, WaitEvent

# httpcore imports anyio's asyncio backend on its first async request: 20-25 ms of imports on the
# triggerer's loop, in the first trigger's first poll (a real triggerer has not loaded it). Here it
# is paid with the rest of this module. A private module, hence no hard failure if it moves.
with contextlib.suppress(ImportError):
    importlib.import_module("anyio._backends._asyncio")


class RunPollingTrigger(BaseTrigger):
    # Constructor arguments, all plain JSON: the triggerer rebuilds the trigger from them alone.
    serialized_fields: ClassVar[tuple[str, ...]]
    collection_id: str
    run_id: str
    scrapingpros_conn_id: str

    def serialize(self) -> tuple[str, dict[str, Any]]:
        classpath = f"{type(self).__module__}.{type(self).__qualname__}"
        return classpath, {name: getattr(self, name) for name in self.serialized_fields}

    async def poll(
        self,
        watcher: RunWatcher,
        *,
        until: Callable[[Run], bool] | None = None,
        first_poll_at: float | None = None,
    ) -> WaitEvent | Run:
        """Poll until the watcher ends the wait (an event) or `until(run)` holds (that run).

        `first_poll_at`: the task has just looked at the run before deferring, so the first poll here
        waits for the interval it chose instead of spending one more request on the same answer."""
        if first_poll_at is not None:
            now = time.time()
            await asyncio.sleep(watcher.deadlines.cap(max(0.0, first_poll_at - now), now))
        hook = ScrapingProsHook(scrapingpros_conn_id=self.scrapingpros_conn_id)
        async with hook.async_session():  # one pooled client for every poll of this run
            while True:
                now = time.time()
                if (event := watcher.deadline_event(now)) is not None:
                    return event
                try:
                    left = watcher.deadlines.time_left(now)
                    run = await hook.aget_run(self.collection_id, self.run_id, max_wait=left)
                except ScrapingProsError as exc:
                    step = watcher.on_error(exc, time.time())
                else:
                    step = watcher.observe(run, time.time())
                    if until is not None and until(run):
                        return run
                if isinstance(step, WaitEvent):
                    return step
                await asyncio.sleep(step)
