"""Progress and retention lines for the task log.

Progress is logged at most every `interval` seconds (and once at the end), never per job: a
50,000-job export writes a few dozen lines, each with exported/total, bytes, results/s and ETA.

Retention: bodies live 48 h after each job's `completed_at` (docs/api-notes.md#retention). Jobs
are exported in `completed_at` order, so the first job of a pass has the earliest deadline of
everything not yet exported; one line tells the user how much time is left by the worker's clock.
The API's own verdict comes with the first expired body (its typed 404 carries the age the server
computed), so a skewed worker clock cannot hide that bodies are already gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .content import Fetched

RETENTION = timedelta(hours=48)
Log = logging.Logger | logging.LoggerAdapter[Any] | Any


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


class Progress:
    def __init__(
        self,
        log: Log,
        *,
        run_id: str,
        total: int,
        done_before: int,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.run_id = run_id
        self.total = total
        self.done = done_before
        self.bytes = 0
        self.interval = interval
        self._clock = clock
        self._started = self._last = clock()
        self._done_at_start = done_before

    def add(self, jobs: int, size: int) -> None:
        self.done += jobs
        self.bytes += size
        if self._clock() - self._last >= self.interval:
            self.report()

    def rate(self) -> float:
        elapsed = self._clock() - self._started
        return (self.done - self._done_at_start) / elapsed if elapsed > 0 else 0.0

    def report(self, final: bool = False) -> None:
        self._last = self._clock()
        rate = self.rate()
        left = max(0, self.total - self.done)
        eta = f", ETA {left / rate:.0f}s" if rate > 0 and left and not final else ""
        self.log.info(
            "Export of run %s: %d/%d jobs, %s this pass, %.0f results/s%s",
            self.run_id,
            self.done,
            self.total,
            _size(self.bytes),
            rate,
            eta,
        )


def log_retention(log: Log, earliest_completed_at: datetime | None, now: datetime | None = None) -> None:
    if earliest_completed_at is None:
        return
    now = now or datetime.now(timezone.utc)
    deadline = earliest_completed_at + RETENTION
    left = (deadline - now).total_seconds() / 3600
    if left > 0:
        log.info(
            "Retention: the oldest result still to export (completed %s) is kept until %s, %.1f h from now.",
            earliest_completed_at.isoformat(),
            deadline.isoformat(),
            left,
        )
    else:
        log.warning(
            "Retention: the oldest result still to export completed %s, %.1f h ago; bodies older than 48 h "
            "are gone and will be recorded as `expired`.",
            earliest_completed_at.isoformat(),
            48 - left,
        )


def log_expired(log: Log, first: Fetched) -> None:
    age = f"{first.age_hours:.1f} h" if first.age_hours is not None else "over 48 h"
    log.warning(
        "Retention: the body of job %s (completed %s) is gone, %s after completion by the API's clock. "
        "Jobs like it are recorded as `expired`; export sooner after runs finish.",
        first.job.job_public_id,
        first.job.completed_at.isoformat() if first.job.completed_at else "?",
        age,
    )
