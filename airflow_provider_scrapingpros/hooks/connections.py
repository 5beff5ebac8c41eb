"""One async connection lookup for the hooks that ask for the same connection together on a loop.

Why: after a triggerer restart all its triggers start within a second or two, and each asks
Airflow for the same connection. Each lookup is a hop to asgiref's worker thread for the
environment backend, a call to the triggerer's supervisor for the metadata database, and one
more per secret to mask — ~0.5 ms of loop time, with the answers coming back in bursts that wake
many triggers in one loop step (bench/triggerer.py). Here the first caller looks the connection
up; the callers that ask while it runs, and for `FRESH_S` after it ends, get its answer. A
finished lookup is handed out without suspending the caller, so the triggers carry on one at a
time, as the triggerer creates them.

What that costs: a connection edited in Airflow reaches the triggers that start up to `FRESH_S`
after the edit with its old value. A failed lookup is never kept: the callers waiting for it get
its error, the next caller looks again. Entries are per event loop (weak keys) and keyed by
connection id only; the secrets are masked once per lookup, which is what masking needs (the
masker is per process).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

FRESH_S = 5.0


@dataclass
class _Lookup:
    started: float
    task: asyncio.Task[Any]


_LOOKUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Lookup]] = (
    weakref.WeakKeyDictionary()
)


async def shared_lookup(conn_id: str, lookup: Callable[[str], Coroutine[Any, Any, Any]]) -> tuple[Any, bool]:
    """The connection, and whether this caller's own lookup fetched it (the one that says so)."""
    loop = asyncio.get_running_loop()
    table = _LOOKUPS.setdefault(loop, {})
    now = loop.time()
    entry = table.get(conn_id)
    if entry is not None and entry.task.done():
        stale = now - entry.started > FRESH_S
        if stale or entry.task.cancelled() or entry.task.exception() is not None:
            entry = None
    if entry is not None:
        # A done task's result is returned without a suspension; a running one is shielded, so
        # one caller cancelled while waiting does not cancel the lookup the others wait for.
        return await asyncio.shield(entry.task), False
    task = loop.create_task(lookup(conn_id))
    table[conn_id] = _Lookup(now, task)
    return await asyncio.shield(task), True
