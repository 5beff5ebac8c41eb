"""Watching a run until it ends: the one state machine behind the operator's worker-side wait, the
sensor and the trigger.

`RunWatcher` does no I/O: it is fed each observed run (or each API error) with the current time and
answers either "poll again in N seconds" or a final `WaitEvent`. The sync loop (`wait_sync`) and the
trigger's async loop are then a few lines each, and cannot drift apart on what terminal means, which
errors are transient, or when a deadline has passed.

Deadlines are wall-clock epoch seconds, not durations: a deferred task can sit in the triggerer, be
rebuilt after a triggerer restart and resume, and still stop at the same moment. Both the wait
`timeout` and the task's `execution_timeout` travel this way, because Airflow's own defer timeout
would end the task without running our handling (no log of where the run is, no clean message).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..client.models import KNOWN_RUN_STATUSES, Run, RunStatus
from ..exceptions import (
    ScrapingProsError,
    ScrapingProsRateLimitError,
    ScrapingProsServerError,
    ScrapingProsTransportError,
)
from .events import DeadlineKind, WaitEvent, WaitStatus
from .verdict import RunSnapshot

TRANSIENT_ERRORS = (ScrapingProsTransportError, ScrapingProsServerError, ScrapingProsRateLimitError)


class Deadlines(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_at: float | None = None
    execution_deadline: float | None = None

    def passed(self, now: float) -> DeadlineKind | None:
        if self.execution_deadline is not None and now >= self.execution_deadline:
            return "execution_timeout"
        if self.timeout_at is not None and now >= self.timeout_at:
            return "timeout"
        return None

    def cap(self, delay: float, now: float) -> float:
        """Never sleep past a deadline: wake up at it so the timeout event is on time."""
        upcoming = [d for d in (self.timeout_at, self.execution_deadline) if d is not None]
        return max(0.0, min([delay, *(d - now for d in upcoming)]))

    def time_left(self, now: float) -> float:
        """Seconds to the nearest deadline (infinite without one): the longest a poll may wait on the
        rate limit, so that a spent budget or a long Retry-After cannot make the timeout late."""
        return self.cap(math.inf, now)


def adaptive_interval(total_requests: int) -> float:
    """The official SDK's status-poll table (`adaptive_poll_interval(n, "status")`): larger runs take
    longer, so polling them every 2 s only burns the shared rate limit."""
    for upper, interval in ((100, 2.0), (500, 5.0), (2000, 10.0)):
        if total_requests < upper:
            return interval
    return 20.0


class RunWatcher:
    def __init__(
        self,
        collection_id: str,
        run_id: str,
        *,
        deadlines: Deadlines,
        poll_interval: float | None = None,
        log: Any = None,  # a stdlib or structlog logger (triggers and tasks carry the latter)
    ) -> None:
        self.collection_id = collection_id
        self.run_id = run_id
        self.deadlines = deadlines
        self.poll_interval = poll_interval
        self.log = log or logging.getLogger(__name__)
        self._first: tuple[float, int] | None = None  # (time, done) of the first observation
        self._last_done: int | None = None
        self._last_seen: RunSnapshot | None = None
        self._warned_statuses: set[str] = set()

    def deadline_event(self, now: float) -> WaitEvent | None:
        kind = self.deadlines.passed(now)
        if kind is None:
            return None
        return self._event(
            "timeout",
            f"Stopped waiting for run {self.run_id}: the task's `{kind}` was reached. The run continues "
            "on the server (the API has no cancel); a retry of this task reattaches to it.",
            deadline=kind,
        )

    def observe(self, run: Run, now: float) -> WaitEvent | float:
        snapshot = RunSnapshot.of(run)
        if (contradiction := self._contradiction(snapshot)) is not None:
            return self._event(
                "error",
                f"Run {self.run_id}: the API's answers contradict each other ({contradiction}); refusing "
                "to trust this run's counters. Look at the run on the server; a retry of this task "
                "reattaches to it.",
            )
        self._last_seen = snapshot
        self._log_progress(snapshot, now)
        if run.status == RunStatus.COMPLETED.value:
            return self._event("success", f"Run {self.run_id} completed.", run=snapshot)
        if run.is_terminal:
            return self._event("failed", f"Run {self.run_id} ended {run.status!r}.", run=snapshot)
        if run.status not in KNOWN_RUN_STATUSES and run.status not in self._warned_statuses:
            # Fail closed but keep waiting: an unknown status is never success
            # (docs/api-notes.md#runs).
            self._warned_statuses.add(run.status)
            self.log.warning(
                "Run %s reports unknown status %r; treating it as in progress.", self.run_id, run.status
            )
        return self.deadlines.cap(self._interval(run.total_requests), now)

    def on_error(self, exc: ScrapingProsError, now: float) -> WaitEvent | float:
        if isinstance(exc, TRANSIENT_ERRORS):
            delay = self._interval(self._last_done or 0)
            if isinstance(exc, ScrapingProsRateLimitError) and exc.retry_after:
                delay = max(delay, exc.retry_after)
            self.log.warning("Polling run %s failed (%s); retrying in %.0fs.", self.run_id, exc, delay)
            return self.deadlines.cap(delay, now)
        return self._event("error", f"Polling run {self.run_id} failed: {exc}")

    def _contradiction(self, run: RunSnapshot) -> str | None:
        """A run's total is fixed and its counters never go down (docs/api-notes.md#counters-and-invariants,
        I1 and I6): an answer that breaks either is not believed, whatever its status says."""
        last = self._last_seen
        if last is None:
            return None
        if run.total_requests != last.total_requests:
            return f"total_requests changed from {last.total_requests} to {run.total_requests}"
        for name in ("success_requests", "failed_requests", "timeout_requests"):
            before, now = getattr(last, name), getattr(run, name)
            if now < before:
                return f"{name} went down from {before} to {now}"
        return None

    def _interval(self, total: int) -> float:
        return self.poll_interval if self.poll_interval is not None else adaptive_interval(total)

    def _log_progress(self, run: RunSnapshot, now: float) -> None:
        if run.done == self._last_done:
            return
        self._last_done = run.done
        if self._first is None:
            self._first = (now, run.done)
        started, done_then = self._first
        elapsed = now - started
        # A rate needs two observations apart in time: the first look (often at a finished run)
        # reports none rather than "0.0 jobs/s".
        rate = (run.done - done_then) / elapsed if elapsed > 0 else None
        left = run.total_requests - run.done
        speed = f", {rate:.1f} jobs/s" if rate is not None else ""
        eta = f", ETA {left / rate:.0f}s" if rate and left > 0 else ""
        self.log.info(
            "Run %s: %d/%d done (success %d, failed %d, timeout %d)%s%s",
            self.run_id,
            run.done,
            run.total_requests,
            run.success_requests,
            run.failed_requests,
            run.timeout_requests,
            speed,
            eta,
        )

    def _event(
        self,
        status: WaitStatus,
        message: str,
        *,
        run: RunSnapshot | None = None,
        deadline: DeadlineKind | None = None,
    ) -> WaitEvent:
        return WaitEvent(
            status=status,
            collection_id=self.collection_id,
            run_id=self.run_id,
            message=message,
            run=run,
            deadline=deadline,
        )


def wait_sync(
    get_run: Callable[[float], Run], watcher: RunWatcher, *, sleep: Callable[[float], None] = time.sleep
) -> WaitEvent:
    """The worker-side twin of the trigger's loop (non-deferrable operator, poke-mode sensor).
    `get_run(max_wait)`: the run, waiting on the rate limit for at most `max_wait` seconds."""
    while True:
        now = time.time()
        if (event := watcher.deadline_event(now)) is not None:
            return event
        try:
            step = watcher.observe(get_run(watcher.deadlines.time_left(now)), time.time())
        except ScrapingProsError as exc:
            step = watcher.on_error(exc, time.time())
        if isinstance(step, WaitEvent):
            return step
        sleep(step)
