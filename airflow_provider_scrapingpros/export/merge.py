"""Merged export of a rescrape chain: one destination for the original run and its round runs.

The original run's listing stays the primary walk (source.py), so lines, keys and jsonl part
boundaries follow the original jobs exactly as a single-run export would. What changes is which
attempt a line writes: `ChainAttempts.prepare` walks the round runs first (metadata only; they hold
only the retried failures, so they are small) into a map `request_key -> attempts`, and
`MergedSource` swaps each original job for the best attempt at its request (`rescrape.best`: the
first success, else the last try), fetching that body from the attempt's own run.

Fail closed, before anything is written, on a chain that cannot be matched one to one: a key twice
in one run, or a round job whose key the original run does not have (another collection's run was
passed, say). Guessing would put one request's body on another request's line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..client.core import next_cursor
from ..client.cost import CostEstimate, CostReport
from ..client.models import MAX_PAGE_SIZE, TERMINAL_JOB_STATUSES, Job, Run
from ..exceptions import ScrapingProsError
from ..runs.rescrape import Attempt, RequestKey, attempt_of, best, request_key
from .chain import ChainRun
from .content import ExportOptions
from .errors import ExportChainError, ExportIncompleteError
from .source import WALK, Pending, ResultSource, WalkGuard

_EXAMPLES = 3


@dataclass(frozen=True)
class LaterAttempt:
    attempt: Attempt
    job: Job
    where: ChainRun  # the run whose /result holds its body


@dataclass
class RoundCount:
    round: int
    run: ChainRun
    jobs: int = 0
    successful: int = 0

    def doc(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "collection_id": self.run.collection_id,
            "run_id": self.run.run_id,
            "jobs": self.jobs,
            "successful": self.successful,
        }


@dataclass
class _Seen:
    """Keys of one run's walk and the ones met more than once (counted, a few kept to name)."""

    keys: set[RequestKey] = field(default_factory=set)
    repeated: int = 0
    examples: list[RequestKey] = field(default_factory=list)

    def add(self, key: RequestKey) -> bool:
        if key in self.keys:
            self.repeated += 1
            if len(self.examples) < _EXAMPLES:
                self.examples.append(key)
            return False
        self.keys.add(key)
        return True


class ChainAttempts:
    """The runs of a chain (original first) and every later attempt at each original request."""

    def __init__(
        self, hook: Any, chain: Sequence[ChainRun], *, costs: Mapping[str, CostEstimate] | None = None
    ) -> None:
        """`costs`: what is known of each collection's cost, by collection id (the run size otherwise)."""
        if len(chain) < 2:
            raise ValueError("a merged export needs the original run and at least one round run")
        self.hook, self.chain, self.costs = hook, list(chain), dict(costs or {})
        self.attempts: dict[RequestKey, list[LaterAttempt]] = {}
        self.rounds: list[RoundCount] = []
        self.runs: list[Run] = []

    def prepare(self) -> None:
        """Check the chain and build the attempts map (every pass: API calls, no writes)."""
        self.runs = [self.hook.get_run(r.collection_id, r.run_id) for r in self.chain]
        waiting = [(n, r) for n, r in enumerate(self.runs) if not r.is_terminal]
        if waiting:
            listed = ", ".join(
                f"round {n} run {r.run_id} is {r.status} ({r.done}/{r.total_requests} done)"
                for n, r in waiting
            )
            raise ScrapingProsError(
                f"run_ids: every run of the chain must have ended before a merged export ({listed}). "
                "Export after the rescrape task has finished (make it upstream of this task); follow "
                "applies to single-run exports only."
            )
        self.attempts, self.rounds = {}, []
        for number, (where, run) in enumerate(zip(self.chain, self.runs, strict=True)):
            self.rounds.append(RoundCount(number, where))
            if number:
                self._walk_round(number, where, run)
        self._check_original()

    def _walk_round(self, number: int, where: ChainRun, run: Run) -> None:
        seen, count = _Seen(), self.rounds[number]
        for job in _walk(self.hook, where, run):
            count.jobs += 1
            count.successful += bool(job.is_success)
            key = request_key(job.url, job.custom_id)
            if seen.add(key):
                self.attempts.setdefault(key, []).append(LaterAttempt(attempt_of(job, number), job, where))
        if seen.repeated:
            raise self._repeated(number, where, seen)

    def _check_original(self) -> None:
        where, run = self.chain[0], self.runs[0]
        seen, count = _Seen(), self.rounds[0]
        for job in _walk(self.hook, where, run):
            count.jobs += 1
            count.successful += bool(job.is_success)
            seen.add(request_key(job.url, job.custom_id))
        if seen.repeated:
            raise self._repeated(0, where, seen)
        unmatched = [key for key in self.attempts if key not in seen.keys]
        if unmatched:
            examples = "; ".join(_show(k) for k in unmatched[:_EXAMPLES])
            raise ExportChainError(
                f"run_ids: {len(unmatched)} request(s) of the round runs are not in the original run "
                f"{where.run_id} (matched by url and custom_id), e.g. {examples}. Nothing was written. "
                "Pass the chain the rescrape task returned (its `runs`), original first."
            )

    def _repeated(self, number: int, where: ChainRun, seen: _Seen) -> ExportChainError:
        examples = "; ".join(_show(k) for k in seen.examples)
        return ExportChainError(
            f"run_ids: run {where.run_id} (round {number}) has {seen.repeated} job(s) whose url and "
            f"custom_id repeat an earlier job of the same run, e.g. {examples}: their attempts cannot be "
            "matched to one original request. Nothing was written."
        )

    def marker_rounds(self) -> list[dict[str, Any]]:
        return [count.doc() for count in self.rounds]

    def credits(self) -> dict[str, Any]:
        """Each run's credit report (today's single-run figure, run by run), summed."""
        reports = [
            (
                self.costs.get(r.collection_id) or CostEstimate.unknown_mix(r.collection_id, r.total_requests)
            ).report(r.success_requests)
            for r in self.runs
        ]
        return _summed(reports).model_dump(mode="json")


def _summed(reports: Sequence[CostReport]) -> CostReport:
    used = [r.credits_used for r in reports]
    ranges = [r.credits_used_range for r in reports]
    sources = {r.estimate_source for r in reports}
    return CostReport(
        estimated_credits=sum(r.estimated_credits for r in reports),
        # mixed sources: the figure is only as good as its least precise part, the run sizes
        estimate_source=sources.pop() if len(sources) == 1 else "run_size",
        credits_used=sum(u for u in used if u is not None) if None not in used else None,
        credits_used_range=(sum(r[0] for r in ranges if r), sum(r[1] for r in ranges if r))
        if None not in ranges
        else None,
    )


def _show(key: RequestKey) -> str:
    url, custom_id = key
    return f"url {url!r} custom_id {custom_id!r}"


def _walk(hook: Any, where: ChainRun, run: Run) -> Iterator[Job]:
    """Every terminal job of a finished run, metadata only, with the single-run walk's guard."""
    guard = WalkGuard(where.run_id, run.total_requests)
    cursor: str | None = None
    while True:
        page = hook.get_jobs_page(
            where.collection_id,
            where.run_id,
            cursor=cursor,
            limit=MAX_PAGE_SIZE,
            **WALK,
        )
        cursor = next_cursor(page)
        guard.page(cursor)
        for job in page.items:
            guard.job(job)
            yield job
        if cursor is None:
            break
    if guard.listed != run.total_requests:
        raise ExportIncompleteError(
            f"Run {where.run_id} is {run.status} with {run.total_requests} jobs, but its jobs listing gave "
            f"{guard.listed}; nothing was written. Retry the task later (the API may still be persisting "
            "jobs: `all_jobs_persisted` on the run)."
        )


class MergedSource(ResultSource):
    """The original run's walk, each job swapped for the best attempt at its request."""

    def __init__(self, hook: Any, chain: ChainAttempts, options: ExportOptions, *, workers: int = 8) -> None:
        original = chain.chain[0]
        super().__init__(hook, original.collection_id, original.run_id, options, workers=workers)
        self.chain = chain

    def _resolve(self, job: Job, pool: ThreadPoolExecutor) -> Pending:
        if job.status not in TERMINAL_JOB_STATUSES:
            raise ValueError(f"Job {job.job_public_id} is {job.status!r} in a terminal-only listing.")
        later = self.chain.attempts.get(request_key(job.url, job.custom_id), [])
        attempts = (attempt_of(job, 0), *(a.attempt for a in later))
        chosen = best(attempts).round
        if chosen == 0:
            return self._resolve_in(job, pool, ChainRun(self.collection_id, self.run_id), (job, attempts))
        pick = next(a for a in later if a.attempt.round == chosen)
        return self._resolve_in(pick.job, pool, pick.where, (job, attempts))
