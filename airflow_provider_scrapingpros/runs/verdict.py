"""What a finished run means for the task: one policy for the run operator, the sensor and the trigger.

* `outcome`: `success` (every job succeeded), `partial` (some did), `failed` (none did, or the run
  itself ended `failed`/`cancelled`).
* The task's return value (`RunResult`) is the same dict whether the task waited in a worker, in the
  triggerer or not at all, and holds ids, counters and a link — never page content or job id lists,
  which can be megabytes for large runs.
* `max_failed_ratio` turns too many failed jobs into a task failure whose message shows a sample of
  failed URLs and reasons, so the log alone tells the user what went wrong.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..client.models import FailedJob, Run, RunStatus
from ..exceptions import ScrapingProsResponseError, ScrapingProsRunFailedError

RunOutcome = Literal["success", "partial", "failed"]
FAILED_SAMPLE_SIZE = 10


class RunCounters(BaseModel):
    """Ids, status and counters of a run: what both the trigger event and the XCom result carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    collection_id: str
    run_id: str
    status: str
    total_requests: int
    success_requests: int
    failed_requests: int
    timeout_requests: int


COUNTER_FIELDS: set[str] = set(RunCounters.model_fields)


class RunSnapshot(RunCounters):
    """A run without its `job_ids` and with a bounded `failed_jobs` sample: small enough for trigger
    events and XCom even when the run has 100,000 jobs."""

    failed_sample: list[FailedJob] = Field(default_factory=list)

    @classmethod
    def of(cls, run: Run) -> RunSnapshot:
        return cls(
            **run.model_dump(include=COUNTER_FIELDS), failed_sample=run.failed_jobs[:FAILED_SAMPLE_SIZE]
        )

    @property
    def done(self) -> int:
        return self.success_requests + self.failed_requests + self.timeout_requests

    @property
    def unsuccessful(self) -> int:
        return self.failed_requests + self.timeout_requests


class RunResult(RunCounters):
    """The XCom return value of the run operator and the sensor."""

    outcome: RunOutcome | None  # None only when the task did not wait for the run to finish
    run_url: str


def run_outcome(run: RunSnapshot) -> RunOutcome:
    """`success` means every job succeeded, counted from the successes: a run whose failure
    counters are zero but whose successes fall short of its total is not a success."""
    if run.status in (RunStatus.FAILED.value, RunStatus.CANCELLED.value):
        return "failed"
    if run.success_requests == run.total_requests and run.unsuccessful == 0:
        return "success"
    return "partial" if run.success_requests > 0 else "failed"


def result_of(run: RunSnapshot, run_url: str, *, waited: bool = True) -> RunResult:
    return RunResult(
        **run.model_dump(include=COUNTER_FIELDS),
        outcome=run_outcome(run) if waited else None,
        run_url=run_url,
    )


def enforce(run: RunSnapshot, run_url: str, *, max_failed_ratio: float | None) -> RunResult:
    """Raise if the finished run breaks the task's policy; else return the task's result."""
    if run.status in (RunStatus.FAILED.value, RunStatus.CANCELLED.value):
        raise ScrapingProsRunFailedError(
            f"Run {run.run_id} ended {run.status!r} on the server after {run.done}/{run.total_requests} jobs "
            f"({_counts(run)}).{_sample(run)} See {run_url}; results of finished jobs can still be exported."
        )
    if run.status == RunStatus.COMPLETED.value and run.done != run.total_requests:
        raise ScrapingProsResponseError(
            f"Run {run.run_id} ended 'completed' but its counters do not add up: "
            f"{run.success_requests} success + {run.failed_requests} failed + {run.timeout_requests} timeout "
            f"of {run.total_requests} requests. The API answered inconsistently; refusing to call this run "
            f"a success. Look at the run at {run_url}, and export it to see each job."
        )
    if max_failed_ratio is not None and run.total_requests:
        ratio = run.unsuccessful / run.total_requests
        if ratio > max_failed_ratio:
            raise ScrapingProsRunFailedError(
                f"Run {run.run_id}: {run.unsuccessful}/{run.total_requests} jobs did not succeed "
                f"({ratio:.1%} > max_failed_ratio {max_failed_ratio:.1%}; {_counts(run)}).{_sample(run)} "
                "Check the failing sites, or raise max_failed_ratio if this rate is expected."
            )
    return result_of(run, run_url)


def _counts(run: RunSnapshot) -> str:
    return f"success {run.success_requests}, failed {run.failed_requests}, timeout {run.timeout_requests}"


def _sample(run: RunSnapshot) -> str:
    if not run.failed_sample:
        return ""
    lines = "".join(f"\n  - {j.url} [{j.status}] {j.error or ''}".rstrip() for j in run.failed_sample)
    more = run.unsuccessful - len(run.failed_sample)
    return f"\nFailed jobs (sample):{lines}" + (f"\n  … and {more} more" if more > 0 else "")
