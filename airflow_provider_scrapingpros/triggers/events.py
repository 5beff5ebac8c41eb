"""ScrapingProsRunCompletedTrigger: an Asset watcher that fires once per finished run of a collection.

    collection_asset(cid, watchers=[AssetWatcher("runs", ScrapingProsRunCompletedTrigger(collection_id=cid))])

It polls the collection's runs list (complete, newest first) and yields one `TriggerEvent` whose
payload is `RunCompleted.model_dump()` for every run that reaches completed/failed/cancelled. It
never ends by itself. What was already announced is a `RunCursor` (runs/cursor.py, pure); where the
cursor is kept is a `CursorStore`:

* Airflow 3.3+: the triggerer injects `asset_state_store`; the cursor is stored under one key in the
  state of every Asset the trigger watches and read back as the union of those copies.
* Airflow 3.1/3.2: an Airflow Variable (`scrapingpros_watch__<sha1>`), read and written in a worker
  thread (`Variable.get/set` are sync calls over the triggerer's comms).
* Neither reachable: in memory, with one warning; a restart then re-baselines (see docs/watcher.md).

The cursor is written after each event is yielded, so a crash in between re-announces that run
once (at-least-once); the export operator is idempotent per run, so a duplicate costs an export run
that finds its destination complete.

On Airflow 3.3+ watchers on the same connection and collection share one poll loop
(`shared_stream_key`); `run()` is that same loop and filter wired together, for 3.1/3.2 and for
triggers that do not share. Module-level imports are only what the triggerer already has; the
runtime loads in a worker thread on first use (see polling.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Hashable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from .. import DEFAULT_CONN_ID
from ..exceptions import ScrapingProsInputError, ScrapingProsNotFoundError
from .polling import load_runtime

if TYPE_CHECKING:
    from ..hooks.scrapingpros import ScrapingProsHook
    from ..runs.cursor import RunCursor, RunsSnapshot

log = logging.getLogger(__name__)

ASSET_STATE_KEY_PREFIX = "scrapingpros.watch:"
VARIABLE_KEY_PREFIX = "scrapingpros_watch__"
# run() (one loop per trigger) waits a random [0, min(poll_interval, this)) before its first poll,
# so watchers started together (a triggerer restart) do not connect and poll in lockstep: 200 of
# them stalled the loop 73-85 ms at their first polls, spread 25-41 ms (bench/watchers.py). The
# shared stream has one loop and no wait.
FIRST_POLL_SPREAD_S = 15.0
# Airflow's trigger runner ships yielded events to its supervisor (which stores them) on its next
# state sync, about once a second; a triggerer stopped in between drops them. The cursor that marks
# a batch announced is saved only this long after the batch's last yield, so a stop inside that
# window re-announces the batch (a duplicate event, harmless: the export is idempotent) instead of
# losing it. Measured in the standalone lane: 3 of 20 runs lost with the save right after the yield.
EVENT_PERSIST_WAIT_S = 3.0
_WATCH_MODULES = (
    "airflow_provider_scrapingpros.runs.cursor",
    "airflow_provider_scrapingpros.runs.completion",
)


def _import_watch_modules() -> None:
    for name in _WATCH_MODULES:
        importlib.import_module(name)


async def _load() -> None:
    """The trigger runtime plus the cursor and payload models, imported off the event loop."""
    await load_runtime()
    # already imported after the first call: a dictionary look-up each, done in one thread hop
    await asyncio.to_thread(_import_watch_modules)


def asset_state_key(conn_id: str, collection_id: str) -> str:
    return f"{ASSET_STATE_KEY_PREFIX}{conn_id}:{collection_id}"


def variable_key(conn_id: str, collection_id: str) -> str:
    digest = hashlib.sha1(f"{conn_id}\0{collection_id}".encode(), usedforsecurity=False).hexdigest()
    return f"{VARIABLE_KEY_PREFIX}{digest}"


# ------------------------------------------------------------------------------------- cursor stores
class CursorStore(Protocol):
    """Where a watcher's cursor survives a triggerer restart. `load()` is None when nothing is
    stored yet; both raise when the storage is unreachable."""

    description: str

    async def load(self) -> RunCursor | None: ...

    async def save(self, cursor: RunCursor) -> None: ...


class MemoryCursorStore:
    """The process's memory: tests, and the last resort (lost on restart)."""

    description = "memory"

    def __init__(self) -> None:
        self.cursor: RunCursor | None = None
        self.saves = 0

    async def load(self) -> RunCursor | None:
        return self.cursor

    async def save(self, cursor: RunCursor) -> None:
        self.cursor = cursor
        self.saves += 1


class AssetStateCursorStore:
    """One key in the state of every watched Asset (Airflow 3.3+ `asset_state_store`)."""

    def __init__(self, accessors: Sequence[Any], key: str) -> None:
        self.accessors = list(accessors)
        self.key = key
        self.description = f"asset state key {key!r} of {len(self.accessors)} Asset(s)"

    async def load(self) -> RunCursor | None:
        from ..runs.cursor import union_of_stored

        values = {repr(acc): await acc.aget(self.key, None) for acc in self.accessors}
        return union_of_stored(values)

    async def save(self, cursor: RunCursor) -> None:
        value = cursor.to_json()
        for acc in self.accessors:
            await acc.aset(self.key, value)


class VariableCursorStore:
    """An Airflow Variable (3.1/3.2), read and written with the triggerer's own async comms on the
    loop. Not `Variable.get/set` in a thread: their sync comms (async_to_sync) open a second loop
    and interleave frames with the trigger runner's, which crashes it ("Response read out of
    order") — every trigger of that triggerer stops. Straight to the metadata database: a Variable
    of this key in the environment or a secrets backend is not consulted."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.description = f"Airflow Variable {key!r}"

    @staticmethod
    def _comms() -> Any:
        from airflow.sdk.execution_time import task_runner

        comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
        if comms is None or not hasattr(comms, "asend"):
            raise RuntimeError("no triggerer supervisor to reach the metadata database through")
        return comms

    async def load(self) -> RunCursor | None:
        from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable, VariableResult

        from ..runs.cursor import union_of_stored

        answer = await self._comms().asend(GetVariable(key=self.key))
        if isinstance(answer, ErrorResponse) and "NOT_FOUND" in str(answer.error).upper():
            return None
        if not isinstance(answer, VariableResult):
            raise RuntimeError(f"reading the Variable failed: {answer!r:.200}")
        value = json.loads(answer.value) if answer.value else None
        return union_of_stored({self.description: value})

    async def save(self, cursor: RunCursor) -> None:
        from airflow.sdk.execution_time.comms import ErrorResponse, PutVariable

        message = PutVariable(
            key=self.key,
            value=json.dumps(cursor.to_json()),
            description="ScrapingPros run watcher cursor (run ids already announced); do not edit",
        )
        answer = await self._comms().asend(message)
        if isinstance(answer, ErrorResponse):
            raise RuntimeError(f"writing the Variable failed: {answer.error}")


class FallbackCursorStore:
    """`primary`, and memory when it fails: a load that fails (or finds a malformed cursor) starts
    from nothing; a save that fails keeps the cursor in memory. The first failure is warned about,
    once: from then on the cursor is (also) in memory only, which is all the warning says."""

    def __init__(self, primary: CursorStore, logger: Any) -> None:
        self.primary = primary
        self.memory = MemoryCursorStore()
        self.log = logger
        self.description = primary.description
        self._warned: set[str] = set()

    def _warn_once(self, kind: str, message: str, *args: Any) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            self.log.warning(message, *args)

    async def load(self) -> RunCursor | None:
        from ..runs.cursor import CursorFormatError

        try:
            cursor = await self.primary.load()
        except CursorFormatError as exc:
            self.log.error("Ignoring the stored watcher cursor: %s. Starting from a new baseline.", exc)
            return None
        except Exception as exc:
            self._warn_once(
                "memory",
                "Cannot read the watcher cursor from %s (%s: %s); keeping it in memory only, so a "
                "triggerer restart may re-announce or miss runs that end meanwhile.",
                self.description,
                type(exc).__name__,
                exc,
            )
            return await self.memory.load()
        if cursor is not None:
            await self.memory.save(cursor)
        return cursor

    async def save(self, cursor: RunCursor) -> None:
        await self.memory.save(cursor)
        try:
            await self.primary.save(cursor)
        except Exception as exc:
            self._warn_once(
                "memory",
                "Cannot store the watcher cursor in %s (%s: %s); keeping it in memory only, so a "
                "triggerer restart may re-announce or miss runs that end meanwhile.",
                self.description,
                type(exc).__name__,
                exc,
            )


def _each_accessor(accessors: Any) -> list[Any]:
    """The per-Asset accessors of an `AssetStateStoreAccessors`. It has no public iteration; the
    triggerer builds it from the watched Assets by name (`_by_name`). Failing that, the object's
    own single-Asset `aget`/`aset`."""
    found = [*getattr(accessors, "_by_name", {}).values(), *getattr(accessors, "_by_uri", {}).values()]
    return found or [accessors]


# ------------------------------------------------------------------------------------------ trigger
def _checked_id(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScrapingProsInputError(
            f"{field} must be a non-empty string, got {value!r}.", errors=[(field, "empty or not a string")]
        )
    return value


class ScrapingProsRunCompletedTrigger(BaseEventTrigger):
    """Fires once per run of one collection that reaches a terminal status (an Asset watcher).

    Exactly one of `collection_id` / `collection_name` (a name is resolved once, at start, through
    the collections list; no match or several matches is an error). `poll_interval` is the idle
    interval; while a run is in progress the list is polled every `max(5, poll_interval / 4)` s
    (never slower than `poll_interval`). `include_existing`: at the very first start (no stored
    cursor), announce the runs already finished too, oldest first, instead of taking them as the
    baseline."""

    serialized_fields: ClassVar[tuple[str, ...]] = (
        "collection_id",
        "collection_name",
        "scrapingpros_conn_id",
        "poll_interval",
        "include_existing",
    )

    def __init__(
        self,
        *,
        collection_id: str | None = None,
        collection_name: str | None = None,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
        include_existing: bool = False,
    ) -> None:
        super().__init__()
        if (collection_id is None) == (collection_name is None):
            raise ScrapingProsInputError(
                "Pass exactly one of collection_id and collection_name.",
                errors=[("collection_id", "exactly one of collection_id / collection_name")],
            )
        self.collection_id = None if collection_id is None else _checked_id("collection_id", collection_id)
        self.collection_name = (
            None if collection_name is None else _checked_id("collection_name", collection_name)
        )
        self.scrapingpros_conn_id = _checked_id("scrapingpros_conn_id", scrapingpros_conn_id)
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not poll_interval > 0
            or poll_interval == float("inf")
        ):
            raise ScrapingProsInputError(
                f"poll_interval must be a positive number of seconds, got {poll_interval!r}.",
                errors=[("poll_interval", "not a positive number")],
            )
        self.poll_interval = float(poll_interval)
        if not isinstance(include_existing, bool):
            raise ScrapingProsInputError(
                f"include_existing must be True or False, got {include_existing!r}.",
                errors=[("include_existing", "not a bool")],
            )
        self.include_existing = include_existing
        # Not serialized: tests (or a caller running the trigger itself) may put a store here.
        self.cursor_store: CursorStore | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        classpath = f"{type(self).__module__}.{type(self).__qualname__}"
        return classpath, {name: getattr(self, name) for name in self.serialized_fields}

    # ---------------------------------------------------------------------------- shared stream
    def shared_stream_key(self) -> Hashable | None:
        """Watchers of one collection through one connection share one poll loop (Airflow 3.3+).
        The loop polls at the `poll_interval` of the trigger that opened it."""
        return ("scrapingpros", self.scrapingpros_conn_id, self.collection_id or self.collection_name or "")

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Yield a `RunsSnapshot` per good look at the runs list, forever. A failed or malformed
        answer is logged and skipped (no snapshot, so no event); an unresolvable name raises."""
        async for snapshot in cls(**kwargs)._snapshots(log):
            yield snapshot

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This trigger's events from the snapshots: its own cursor decides what is due."""
        await _load()
        from ..runs.completion import RunCompleted
        from ..runs.cursor import RunsSnapshot, observe

        store: CursorStore | None = None
        cursor: RunCursor | None = None
        warned_statuses: set[str] = set()
        async for snapshot in shared_stream:
            if not isinstance(snapshot, RunsSnapshot):
                self.log.error("Ignoring a shared-stream item that is not a runs snapshot: %r", snapshot)
                continue
            if store is None:
                store = self._store(snapshot.collection_id)
                cursor = await store.load()
                self.log.info(
                    "Watching runs of collection %s; cursor in %s (%s).",
                    snapshot.collection_id,
                    getattr(store, "description", type(store).__name__),
                    "none stored yet" if cursor is None else f"{len(cursor.done)} runs done",
                )
            seen = observe(cursor, snapshot.runs, include_existing=self.include_existing)
            if new := seen.unknown_statuses - warned_statuses:
                warned_statuses |= new
                self.log.warning("Runs with unknown status %s are treated as in progress.", sorted(new))
            cursor = seen.cursor
            if seen.changed and not seen.due:
                await store.save(cursor)
            for run in seen.due:
                payload = RunCompleted.from_run(run, snapshot.run_urls[run.run_id], seen_at=snapshot.seen_at)
                yield TriggerEvent(payload.model_dump())
                cursor = cursor.mark(run.run_id)
            if seen.due:
                # at-least-once: a stop before this save re-announces the batch (EVENT_PERSIST_WAIT_S)
                await asyncio.sleep(EVENT_PERSIST_WAIT_S)
                await store.save(cursor)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The poll loop and this trigger's filter, unshared (Airflow 3.1/3.2, or no sharing)."""
        spread = random.uniform(0.0, min(self.poll_interval, FIRST_POLL_SPREAD_S))
        async for event in self.filter_shared_stream(self._snapshots(self.log, first_wait=spread)):
            yield event

    # ------------------------------------------------------------------------------- internals
    def _store(self, collection_id: str) -> CursorStore:
        if self.cursor_store is not None:
            return self.cursor_store
        accessors = getattr(self, "asset_state_store", None)
        primary: CursorStore
        if accessors is not None:
            primary = AssetStateCursorStore(
                _each_accessor(accessors), asset_state_key(self.scrapingpros_conn_id, collection_id)
            )
        else:
            primary = VariableCursorStore(variable_key(self.scrapingpros_conn_id, collection_id))
        self.cursor_store = FallbackCursorStore(primary, self.log)
        return self.cursor_store

    async def _snapshots(self, logger: Any, first_wait: float = 0.0) -> AsyncIterator[RunsSnapshot]:
        await _load()
        if first_wait > 0:
            await asyncio.sleep(first_wait)
        from ..client.models import is_terminal_run_status
        from ..hooks.scrapingpros import ScrapingProsHook
        from ..runs.cursor import RunsSnapshot, checked_runs, next_poll_delay

        hook = ScrapingProsHook(scrapingpros_conn_id=self.scrapingpros_conn_id)
        async with hook.async_session(shared=True):  # the loop's client, leased (client/shared.py)
            core = await hook.acore()
            collection_id = await self._resolve(hook, logger)
            while True:
                delay = self.poll_interval
                try:
                    runs = checked_runs(await hook.alist_runs(collection_id), collection_id)
                except Exception as exc:  # fail closed: no snapshot, no event; keep watching
                    logger.warning(
                        "Runs list of collection %s not usable (%s: %s); no event, polling again in %.1f s.",
                        collection_id,
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                else:
                    urls = {
                        r.run_id: core.run_url(collection_id, r.run_id)
                        for r in runs
                        if is_terminal_run_status(r.status)
                    }
                    yield RunsSnapshot(
                        collection_id=collection_id, runs=tuple(runs), run_urls=urls, seen_at=time.time()
                    )
                    active = sum(not is_terminal_run_status(r.status) for r in runs)
                    delay = next_poll_delay(self.poll_interval, active)
                await asyncio.sleep(delay)

    async def _resolve(self, hook: ScrapingProsHook, logger: Any) -> str:
        """The collection id: given, or looked up by name (retrying failed look-ups)."""
        if self.collection_id is not None:
            return self.collection_id
        name = self.collection_name
        while True:
            try:
                found = await hook.alist_collections(name=name)
            except Exception as exc:
                logger.warning(
                    "Looking up collection %r failed (%s: %s); retrying in %.1f s.",
                    name,
                    type(exc).__name__,
                    exc,
                    self.poll_interval,
                )
                await asyncio.sleep(self.poll_interval)
                continue
            matches = [c for c in found if c.name == name]
            if not matches:
                raise ScrapingProsNotFoundError(
                    f"No collection is named {name!r} on this account (connection "
                    f"'{self.scrapingpros_conn_id}'); create it first or pass collection_id."
                )
            if len(matches) > 1:
                ids = ", ".join(sorted(c.id for c in matches))
                raise ScrapingProsInputError(
                    f"{len(matches)} collections are named {name!r} ({ids}); pass collection_id instead.",
                    errors=[("collection_name", "ambiguous")],
                )
            logger.info("Collection %r is %s.", name, matches[0].id)
            return matches[0].id
