"""Collections, runs and jobs as the engine stores them, and their wire JSON
(docs/api-notes.md#collections-and-idempotency, #runs, #jobs-paging-and-inline-results).

A run keeps two views of its jobs: `jobs` in insertion order (= `job_ids`, the `order_by=id`
order) and `terminal` in completion order. Completion stamps are strictly increasing sandbox-wide
(docs/api-notes.md#counters-and-invariants, I7), so appending to `terminal` keeps it sorted by
`completed_at` for free and `terminal_ms` can be bisected for cursors and `since_completed_at`.
Counters and `failed_jobs` are updated in the same step as a job's terminal flip, never recomputed
(docs/api-notes.md#counters-and-invariants, I8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..client.models import (
    SUCCESS_CRITERION_VERSION,
    TERMINAL_JOB_STATUSES,
    JobStatus,
    RunStatus,
    ScrapeRequest,
)
from .outcomes import Settlement, TargetOutcome
from .timefmt import iso_ms, to_ms

MAX_URL_CHARS = 2048
SUCCESS_CRITERION = {
    "version": SUCCESS_CRITERION_VERSION,
    "rules": [
        "status == 'completed'",
        "200 <= status_code < 300",
        "potentiallyBlockedByCaptcha is false",
        "block_reason is null or 'none'",
    ],
}


@dataclass(eq=False)
class CollectionRecord:
    id: str
    token: str
    name: str
    created_at: float
    updated_at: float
    requests: list[ScrapeRequest]
    callback_url: str | None
    seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(eq=False, slots=True)
class JobRecord:
    id: str
    index: int  # insertion position in the run (the `order_by=id` key)
    run: RunRecord
    url: str
    custom_id: str | None
    request: ScrapeRequest
    outcome: TargetOutcome
    end: Settlement  # decided at creation: the fetch is a pure function of URL, rules and config
    queued_ms: int
    started_ms: int | None = None
    completed_ms: int | None = None
    status: str = JobStatus.PROCESSING.value
    status_code: int | None = None
    message: str | None = None
    is_success: bool | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES

    @property
    def fetched(self) -> bool:
        """Completed by its own fetch (not ended by a run fate): it has a body."""
        return self.status == JobStatus.COMPLETED

    def shown_url(self) -> str:
        return self.url[:MAX_URL_CHARS]

    def to_json(self) -> dict[str, Any]:
        end = self.end
        fetched = self.fetched
        started = self.started_ms
        return {
            "job_public_id": self.id,
            "run_public_id": self.run.id,
            "collection_id": self.run.collection_id,
            "client_id": self.run.client_id,
            "status": self.status,
            "status_code": self.status_code,
            "message": self.message,
            "url": self.shown_url(),
            "url_truncated": len(self.url) > MAX_URL_CHARS,
            "custom_id": self.custom_id,
            "queued_at": iso_ms(self.queued_ms),
            "started_at": None if started is None else iso_ms(started),
            "completed_at": None if self.completed_ms is None else iso_ms(self.completed_ms),
            "execution_time_ms": round(end.duration * 1000)
            if fetched or self.status == JobStatus.TIMEOUT
            else None,
            "retries_attempted": end.retries if fetched else (0 if self.terminal else None),
            "block_reason": end.block_reason if fetched else None,
            "protection_stack": list(end.protection_stack) if fetched else [],
            "rule_hits": [],
            "validator_version": SUCCESS_CRITERION_VERSION if self.terminal else None,
            "has_extractable_data": self.outcome.extractable if fetched else None,
            "is_success": self.is_success,
            "result": None,
        }


@dataclass(eq=False)
class RunRecord:
    id: str
    collection_id: str
    token: str
    client_id: str
    created_at: float
    callback_url: str | None
    seq: int
    jobs: list[JobRecord] = field(default_factory=list)
    by_id: dict[str, JobRecord] = field(default_factory=dict)
    status: str = RunStatus.IN_PROGRESS.value
    success: int = 0
    failed: int = 0
    timeout: int = 0
    failed_jobs: list[dict[str, Any]] = field(default_factory=list)
    terminal: list[JobRecord] = field(default_factory=list)
    terminal_ms: list[int] = field(default_factory=list)
    callback_status: str | None = None
    fate: str | None = None  # failed | cancelled, from a fault profile
    fate_at: int = 0  # number of terminal jobs after which the fate strikes
    seeding_until: float = 0.0

    @property
    def pending(self) -> int:
        return len(self.jobs) - len(self.terminal)

    def record_terminal(self, job: JobRecord) -> None:
        """The bookkeeping half of a job's terminal flip; the caller holds the engine lock, so the
        flip and its counters are one step (docs/api-notes.md#counters-and-invariants, I8)."""
        self.terminal.append(job)
        self.terminal_ms.append(job.completed_ms or 0)
        if job.is_success:
            self.success += 1
            return
        if job.status == JobStatus.TIMEOUT:
            self.timeout += 1
        else:
            self.failed += 1
        self.failed_jobs.append(
            {"job_id": job.id, "url": job.shown_url(), "status": job.status, "error": job.message}
        )

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "run_id": self.id,
            "collection_id": self.collection_id,
            "status": self.status,
            "total_requests": len(self.jobs),
            "success_requests": self.success,
            "failed_requests": self.failed,
            "timeout_requests": self.timeout,
            "failed_jobs": list(self.failed_jobs),
            "job_ids": [job.id for job in self.jobs],
            "callback_url": self.callback_url,
            "callback_status": self.callback_status,
            "created_at": self.created_at,
            "success_criterion": SUCCESS_CRITERION,
            "all_jobs_persisted": now >= self.seeding_until,
        }


def new_job(
    job_id: str, index: int, run: RunRecord, request: ScrapeRequest, outcome: TargetOutcome, end: Settlement
) -> JobRecord:
    return JobRecord(
        id=job_id,
        index=index,
        run=run,
        url=request.url,
        custom_id=request.custom_id,
        request=request,
        outcome=outcome,
        end=end,
        queued_ms=to_ms(run.created_at),
    )
