"""What every ScrapingPros trigger shares: plain-JSON serialization of its constructor arguments and
the async poll loop over one pooled HTTP client. Each trigger only says when to stop and what event
to emit; deadlines, terminal states and transient errors are `RunWatcher`'s decisions.

Why the imports are where they are: the triggerer imports a trigger's module on its event loop when
it loads the trigger, so the trigger modules import only what the triggerer already has (Airflow's
trigger base). The rest — the hook with requests and httpx, the pydantic models — is ~150 ms of
imports in a cold triggerer; `load_runtime()` imports it in a worker thread on the first run, and
the methods import from it afterwards (a dictionary look-up by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from ..client.models import Run
    from ..runs.events import EventT, RunEvent, WaitEvent
    from ..runs.watcher import Deadlines, RunWatcher

RUNTIME_MODULES = (
    "airflow_provider_scrapingpros.hooks.scrapingpros",
    "airflow_provider_scrapingpros.runs.watcher",
    "airflow_provider_scrapingpros.runs.events",
)
_FIRST_USE_MODULES = ("anyio._backends._asyncio", "airflow.sdk.execution_time.supervisor")
_runtime_loaded = False
_LOADING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[None]] = (
    weakref.WeakKeyDictionary()
)


def _import_runtime() -> None:
    for name in RUNTIME_MODULES:
        importlib.import_module(name)
    # First-use imports of libraries, done here instead of on the loop; private modules, hence no
    # hard failure if they move. httpcore imports anyio's asyncio backend on its first async request
    # (20-25 ms); `BaseHook.aget_connection` imports Airflow's supervisor module (~30 ms; a started
    # triggerer has it already, a cold one or a test does not).
    for name in _FIRST_USE_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


async def load_runtime() -> None:
    """Import what a trigger needs to run, off the event loop; once per process. The triggers that
    start together (a triggerer's restart: all of them) wait for one import, not one thread each."""
    global _runtime_loaded
    if _runtime_loaded:
        return
    loop = asyncio.get_running_loop()
    if (loading := _LOADING.get(loop)) is None:
        loading = _LOADING[loop] = loop.run_in_executor(None, _import_runtime)
    await asyncio.shield(loading)  # one trigger cancelled while waiting must not cancel the others'
    _runtime_loaded = True


class RunPollingTrigger(BaseTrigger):
    # Constructor arguments, all plain JSON: the triggerer rebuilds the trigger from them alone.
    serialized_fields: ClassVar[tuple[str, ...]]
    collection_id: str
    run_id: str
    scrapingpros_conn_id: str
    poll_interval: float | None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        classpath = f"{type(self).__module__}.{type(self).__qualname__}"
        return classpath, {name: getattr(self, name) for name in self.serialized_fields}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Exactly one event, made only of plain JSON."""
        await load_runtime()
        from ..runs.events import event_fields

        try:
            event = await self.wait()
        except Exception as exc:  # fail closed with a readable event rather than a bare trigger crash
            event = self.error_event(f"Watching run {self.run_id} failed: {type(exc).__name__}: {exc}")
        yield TriggerEvent(event_fields(event))

    async def wait(self) -> RunEvent:
        """Watch the run until this trigger's event is due."""
        raise NotImplementedError

    def error_event(self, message: str) -> RunEvent:
        raise NotImplementedError

    def watcher(self, deadlines: Deadlines) -> RunWatcher:
        from ..runs.watcher import RunWatcher

        return RunWatcher(
            self.collection_id,
            self.run_id,
            deadlines=deadlines,
            poll_interval=self.poll_interval,
            log=self.log,  # structlog-style logger, same methods
        )

    def event(self, model: type[EventT], status: str, message: str, **fields: Any) -> EventT:
        """An event of this trigger's run: the one place its ids are filled in."""
        return model.model_validate(
            {"status": status, "collection_id": self.collection_id, "run_id": self.run_id, "message": message}
            | fields
        )

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
        from ..exceptions import ScrapingProsError
        from ..hooks.scrapingpros import ScrapingProsHook
        from ..runs.events import WaitEvent

        if first_poll_at is not None:
            now = time.time()
            await asyncio.sleep(watcher.deadlines.cap(max(0.0, first_poll_at - now), now))
        hook = ScrapingProsHook(scrapingpros_conn_id=self.scrapingpros_conn_id)
        # the loop's client for this API and token, leased (client/shared.py): not one per trigger
        async with hook.async_session(shared=True):
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
                    # not kept across the sleep: ~8 GC-tracked objects a waiting trigger, which
                    # every full collection of the triggerer's heap walks a thousand times over
                    del run
                if isinstance(step, WaitEvent):
                    return step
                await asyncio.sleep(step)
