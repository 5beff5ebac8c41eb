"""Which runs of a collection the watcher has already announced: the pure half of
`triggers/events.py` (no Airflow, no I/O), so every rule below is unit-tested on plain lists.

The runs list (`GET …/collections/{cid}/runs`) is complete and newest first, and a run id never
leaves it and comes back. The cursor is therefore just the set of run ids that are *done* — reported
as an event, or taken as the baseline when the watcher first started — and:

* a terminal run not in `done` is due, exactly once, oldest first (by `created_at`);
* a run still in progress needs no state: it is due when it is seen terminal, whenever that is
  (also after a restart, if the cursor was stored);
* ids that are no longer listed are pruned, so the cursor never outgrows the list.

First start (no stored cursor): the runs already terminal are the baseline and are not announced,
unless `include_existing` (then they are all due, oldest first). Runs in progress at that first
look are announced when they end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..client.models import KNOWN_RUN_STATUSES, Run, RunList, first_problem, is_terminal_run_status

FAST_POLL_FLOOR_S = 5.0  # the quickest the watcher polls while a run is in progress


class CursorFormatError(ValueError):
    """A stored cursor that is not one of ours (hand-edited Variable, another writer)."""


class MalformedRunList(ValueError):
    """A runs list the cursor must not act on (it would report or prune the wrong runs)."""


class RunCursor(BaseModel):
    """The stored state: `{"v": 1, "done": [run ids]}`, plain JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    done: frozenset[str] = Field(default_factory=frozenset)

    def to_json(self) -> dict[str, Any]:
        return {"v": self.v, "done": sorted(self.done)}

    @classmethod
    def from_json(cls, value: Any) -> RunCursor:
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            raise CursorFormatError(f"stored watcher cursor is malformed ({first_problem(exc)})") from None

    @classmethod
    def union(cls, cursors: Iterable[RunCursor]) -> RunCursor | None:
        """One cursor from the copies kept in several Assets' state (None if there is none): a run
        any copy has done is done."""
        found = list(cursors)
        if not found:
            return None
        return cls(done=frozenset().union(*(c.done for c in found)))

    def mark(self, run_id: str) -> RunCursor:
        return RunCursor(done=self.done | {run_id})


class Observation(BaseModel):
    """What one runs-list snapshot means for a cursor.

    `due`: the runs to announce, oldest first; `cursor`: the cursor with the baseline taken and
    the vanished ids pruned, but *without* the due runs (each is marked after its event is out).
    `changed`: whether `cursor` differs from the one given, so it is worth storing even if
    nothing is due."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    due: tuple[Run, ...]
    cursor: RunCursor
    changed: bool
    in_progress: int
    unknown_statuses: frozenset[str]


class RunsSnapshot(BaseModel):
    """One good look at a collection's runs list: what the shared poll loop hands every watcher.
    `run_urls` holds the link of each terminal run; `seen_at` is when the list was read (epoch s)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    collection_id: str
    runs: tuple[Run, ...]
    run_urls: dict[str, str]
    seen_at: float


def checked_runs(answer: RunList, collection_id: str) -> list[Run]:
    """The list's runs, or MalformedRunList if acting on it could report or prune wrongly."""
    items = answer.items
    if answer.total != len(items):
        raise MalformedRunList(
            f"runs list says total={answer.total} but holds {len(items)} runs; the list is documented "
            "as complete, so this answer is ignored"
        )
    ids = [run.run_id for run in items]
    if len(set(ids)) != len(ids):
        raise MalformedRunList("runs list holds the same run id twice; this answer is ignored")
    if any(not rid.strip() for rid in ids):
        raise MalformedRunList("runs list holds an empty run id; this answer is ignored")
    others = {run.collection_id for run in items} - {collection_id}
    if others:
        raise MalformedRunList(
            f"runs list of collection {collection_id} holds runs of {sorted(others)}; this answer is ignored"
        )
    return list(items)


def oldest_first(runs: Sequence[Run]) -> list[Run]:
    """The list is newest first; `created_at` orders it, list position breaks ties (and places a
    run without `created_at`)."""

    def key(pair: tuple[int, Run]) -> tuple[float, int]:
        created = pair[1].created_at
        return (float("-inf") if created is None else created, pair[0])

    return [run for _, run in sorted(enumerate(reversed(runs)), key=key)]


def observe(cursor: RunCursor | None, runs: Sequence[Run], *, include_existing: bool = False) -> Observation:
    """Apply one complete runs-list snapshot to `cursor` (None: first start, nothing stored)."""
    listed = {run.run_id for run in runs}
    terminal = [run for run in oldest_first(runs) if is_terminal_run_status(run.status)]
    if cursor is None:
        if include_existing:
            base = RunCursor()
            due = terminal
        else:
            base = RunCursor(done=frozenset(run.run_id for run in terminal))
            due = []
        changed = True
    else:
        base = RunCursor(done=cursor.done & listed)
        due = [run for run in terminal if run.run_id not in base.done]
        changed = base.done != cursor.done
    active = [run for run in runs if not is_terminal_run_status(run.status)]
    return Observation(
        due=tuple(due),
        cursor=base,
        changed=changed,
        in_progress=len(active),
        unknown_statuses=frozenset(run.status for run in active if run.status not in KNOWN_RUN_STATUSES),
    )


def next_poll_delay(poll_interval: float, in_progress: int) -> float:
    """The adaptive interval: while some run is in progress, `max(5 s, poll_interval / 4)` (never
    slower than `poll_interval`); when none is, `poll_interval`."""
    if in_progress <= 0:
        return poll_interval
    return min(poll_interval, max(FAST_POLL_FLOOR_S, poll_interval / 4))


def union_of_stored(values: Mapping[str, Any]) -> RunCursor | None:
    """The union of the cursors stored under several names (None values: nothing stored there).
    A malformed copy raises CursorFormatError naming where it was."""
    cursors = []
    for where, value in values.items():
        if value is None:
            continue
        try:
            cursors.append(RunCursor.from_json(value))
        except CursorFormatError as exc:
            raise CursorFormatError(f"{where}: {exc}") from None
    return RunCursor.union(cursors)
