"""The sandbox's state machine: collections, idempotency, runs, jobs and simulated time.

Design:

* **One lock** (`SandboxEngine.lock`) guards everything here. Every API request takes it, first runs
  `process_until(clock.now())`, then reads or mutates; so an observation always sees a state in
  which every due event has happened (lazy simulation, no busy worker threads).
* **Events in time order.** A heap holds job finishes, run fates, empty-run closes and metadata
  purges. A finish frees a concurrency slot of its token at the finish time, and the next queued
  job starts at exactly that time, so the simulation is exact however late it is processed.
* **Stamps.** A job's `completed_at` is `max(due ms, last stamp + 1)`: events are processed in
  time order and every observation processes first, so each new stamp is larger than any stamp a
  client has seen (docs/api-notes.md#counters-and-invariants, I7). Flip, stamp, counters,
  `failed_jobs` and the run's own completion are one step under the lock
  (docs/api-notes.md#counters-and-invariants, I8).
* **Webhooks** are queued here (`deliveries.DeliveryQueue`) but sent by `webhooks.WebhookPump`
  outside the lock.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..client.cost import credit_cost
from ..client.models import JobStatus, RunStatus, ScrapeRequest
from .accounts import Account, Accounts
from .clock import Clock
from .config import SandboxConfig
from .deliveries import DeliveryQueue, new_delivery
from .entities import CollectionRecord, JobRecord, RunRecord, new_job
from .faults import Faults
from .outcomes import Rule, Settlement, TargetOutcome, outcome_for, settle
from .timefmt import to_ms
from .validation import Screened, screen

_FINISH, _FATE, _CLOSE, _PURGE = range(4)


class QuotaExceeded(Exception):
    """Monthly credits exhausted: a 429 with 'quota' in the detail
    (docs/api-notes.md#rate-limits-quota-and-credits)."""


@dataclass
class IdempotencyRecord:
    body: Any
    response: dict[str, Any]
    created_at: float


class SandboxEngine:
    def __init__(self, config: SandboxConfig, clock: Clock, accounts: Accounts, faults: Faults) -> None:
        self.config = config
        self.clock = clock
        self.accounts = accounts
        self.faults = faults
        self.lock = threading.RLock()
        self.deliveries = DeliveryQueue()
        self.generation = 0
        self.public_base_url = f"http://{config.host}:{config.port}"  # the server sets the bound one
        self.rules: list[Rule] = []
        self.clear()

    def clear(self) -> None:
        """Drop all API state (docs/sandbox.md#s6-reset). Caller holds the lock."""
        self.generation += 1
        self.rules = []
        self.collections: dict[str, CollectionRecord] = {}
        self.collection_owner: dict[str, str] = {}  # every cid ever created; runs outlive deletion
        self.runs: dict[str, RunRecord] = {}
        self.runs_by_collection: dict[str, list[RunRecord]] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.created_by_token: dict[str, int] = {}
        self._queues: dict[str, deque[JobRecord]] = {}
        self._running: dict[str, int] = {}
        self._events: list[tuple[float, int, int, Any]] = []
        self.deliveries.clear()
        self._seq = itertools.count()
        self._last_ms = 0
        self.jobs_alive = 0

    # ---------------------------------------------------------------------------------- time

    def process_until(self, t: float) -> None:
        """Apply every event due at or before `t`, in time order. Caller holds the lock."""
        events = self._events
        while events and events[0][0] <= t:
            at, _, kind, target = heapq.heappop(events)
            if kind == _FINISH:
                if not target.terminal:
                    self._finish(target, at)
            elif kind == _FATE:
                if target.status == RunStatus.IN_PROGRESS:
                    self._strike(target, at)
            elif kind == _CLOSE:
                if target.status == RunStatus.IN_PROGRESS and target.pending == 0:
                    self._close(target, at, RunStatus.COMPLETED.value)
            else:
                self._purge(target)

    def _push(self, at: float, kind: int, target: Any) -> None:
        heapq.heappush(self._events, (at, next(self._seq), kind, target))

    def _stamp(self, at: float) -> int:
        ms = max(to_ms(at), self._last_ms + 1)
        self._last_ms = ms
        return ms

    def _start(self, job: JobRecord, at: float) -> None:
        job.started_ms = to_ms(at)
        self._running[job.run.token] = self._running.get(job.run.token, 0) + 1
        self._push(at + job.end.duration, _FINISH, job)

    def _fill_slots(self, token: str, at: float) -> None:
        account = self.accounts.known(token)
        limit = account.max_concurrent_jobs if account else 1
        queue = self._queues.get(token)
        while queue and self._running.get(token, 0) < limit:
            job = queue.popleft()
            if not job.terminal:  # a run fate may have ended it while it waited
                self._start(job, at)

    def _finish(self, job: JobRecord, at: float) -> None:
        end = job.end
        job.status = end.status
        job.status_code = end.status_code if end.status == JobStatus.COMPLETED else None
        job.message = end.message
        job.is_success = end.is_success
        job.completed_ms = self._stamp(at)
        if job.is_success:
            account = self.accounts.known(job.run.token)
            if account is not None:
                account.charge(credit_cost(job.request), at)
        run = job.run
        run.record_terminal(job)
        self._running[run.token] -= 1
        in_progress = run.status == RunStatus.IN_PROGRESS
        if run.pending == 0 and in_progress:
            self._close(run, at, RunStatus.COMPLETED.value)
        elif run.fate is not None and len(run.terminal) >= run.fate_at and in_progress:
            self._strike(run, at)
        self._fill_slots(run.token, at)

    def _strike(self, run: RunRecord, at: float) -> None:
        """A fault-profile fate: every unfinished job fails in the same step as the run
        (docs/api-notes.md#runs)."""
        assert run.fate is not None
        message = "run_failed" if run.fate == RunStatus.FAILED else "run_cancelled"
        for job in run.jobs:
            if job.terminal:
                continue
            if job.started_ms is not None:
                self._running[run.token] -= 1
            job.status, job.message, job.is_success = JobStatus.FAILED.value, message, False
            job.completed_ms = self._stamp(at)
            run.record_terminal(job)
        self._close(run, at, run.fate)
        self._fill_slots(run.token, at)

    def _close(self, run: RunRecord, at: float, status: str) -> None:
        # Terminal time is the last stamp handed out, which the +1 ms bumps of unique stamps can
        # push past `at`, even across a second boundary; the webhook's `timestamp` must not
        # predate any job (docs/api-notes.md#counters-and-invariants, I7).
        at = max(at, self._last_ms / 1000)
        run.status = status
        if run.callback_url:
            self.deliveries.push(at, new_delivery(run, self.public_base_url, at, self.generation))
        self._push(at + self.config.metadata_retention_days * 86400.0, _PURGE, run)

    def _purge(self, run: RunRecord) -> None:
        """90 days after it ended the run and its jobs are gone (all 404), counters and all."""
        if self.runs.pop(run.id, None) is not None:
            self.jobs_alive -= len(run.jobs)
            siblings = self.runs_by_collection.get(run.collection_id, [])
            if run in siblings:
                siblings.remove(run)

    def reschedule_token(self, token: str, now: float) -> None:
        """A token's concurrency may have grown (PUT /_sandbox/tokens): start what now fits."""
        self._fill_slots(token, now)

    # ---------------------------------------------------------------------------------- sync slots

    def acquire_slot(self, token: str, limit: int) -> bool:
        if self._running.get(token, 0) >= limit:
            return False
        self._running[token] = self._running.get(token, 0) + 1
        return True

    def release_slot(self, token: str, now: float) -> None:
        # max(): a reset while a sync scrape slept has already dropped its slot count
        self._running[token] = max(0, self._running.get(token, 0) - 1)
        self._fill_slots(token, now)

    # ---------------------------------------------------------------------------------- collections

    def settlement(self, outcome: TargetOutcome, request: ScrapeRequest) -> Settlement:
        """How one fetch of `request` ends under this sandbox's latency and timeout settings."""
        cfg = self.config
        return settle(
            outcome,
            retry_on_block=request.retry_on_block,
            browser=request.browser,
            default_latency_ms=cfg.default_latency_ms,
            time_scale=cfg.time_scale,
            worker_timeout=cfg.worker_timeout,
        )

    def screen(self, items: list[Any]) -> Screened:
        return screen(items, lambda url: outcome_for(url, self.rules).blocked)

    def create_collection(
        self, account: Account, name: str, requests: list[ScrapeRequest], callback_url: str | None, now: float
    ) -> CollectionRecord:
        collection = CollectionRecord(
            str(uuid.uuid4()), account.token, name, now, now, requests, callback_url, next(self._seq)
        )
        self.collections[collection.id] = collection
        self.collection_owner[collection.id] = account.token
        self.created_by_token[account.token] = self.created_by_token.get(account.token, 0) + 1
        return collection

    def collection(self, account: Account, cid: str) -> CollectionRecord | None:
        found = self.collections.get(cid)
        return found if found is not None and found.token == account.token else None

    def list_collections(
        self, account: Account, name: str | None, since: float | None
    ) -> list[CollectionRecord]:
        found = [
            c
            for c in self.collections.values()
            if c.token == account.token
            and (name is None or c.name == name)
            and (since is None or c.created_at >= since)
        ]
        found.sort(key=lambda c: (c.created_at, c.seq), reverse=True)
        return found

    def delete_collection(self, collection: CollectionRecord) -> None:
        del self.collections[collection.id]

    # ---------------------------------------------------------------------------------- idempotency

    def idempotency_record(self, account: Account, key: str, now: float) -> IdempotencyRecord | None:
        record = self.idempotency.get((account.token, key))
        if record is not None and now - record.created_at >= self.config.idempotency_window_hours * 3600:
            del self.idempotency[(account.token, key)]
            return None
        return record

    def remember(self, account: Account, key: str, body: Any, response: dict[str, Any], now: float) -> None:
        self.idempotency[(account.token, key)] = IdempotencyRecord(body, response, now)

    # ---------------------------------------------------------------------------------- runs

    def create_run(self, account: Account, collection: CollectionRecord, now: float) -> RunRecord:
        remaining = account.remaining(now)
        if remaining is not None and remaining <= 0:
            raise QuotaExceeded(account.quota_exceeded_detail())
        run = RunRecord(
            str(uuid.uuid4()), collection.id, account.token, account.client_id, now,
            collection.callback_url, next(self._seq),
        )  # fmt: skip
        run.callback_status = "pending" if run.callback_url else None
        window = self.faults.seeding_window_s
        run.seeding_until = now + window if window > 0 else 0.0
        for index, request in enumerate(collection.requests):
            outcome = outcome_for(request.url, self.rules)
            end = self.settlement(outcome, request)
            job = new_job(str(uuid.uuid4()), index, run, request, outcome, end)
            run.jobs.append(job)
            run.by_id[job.id] = job
        self.runs[run.id] = run
        self.runs_by_collection.setdefault(collection.id, []).append(run)
        self.jobs_alive += len(run.jobs)
        self._queues.setdefault(account.token, deque()).extend(run.jobs)
        run.fate = self.faults.run_fate() if run.jobs else None
        run.fate_at = len(run.jobs) // 2
        if not run.jobs:
            self._push(now, _CLOSE, run)  # the 201 says in_progress; the next read sees completed
        elif run.fate is not None and run.fate_at == 0:
            self._push(now, _FATE, run)
        self._fill_slots(account.token, now)
        return run

    def run(self, account: Account, cid: str, rid: str) -> RunRecord | None:
        found = self.runs.get(rid)
        if found is None or found.collection_id != cid or found.token != account.token:
            return None
        return found

    def runs_of(self, account: Account, cid: str) -> list[RunRecord] | None:
        if self.collection_owner.get(cid) != account.token:
            return None
        return sorted(self.runs_by_collection.get(cid, []), key=lambda r: (r.created_at, r.seq), reverse=True)

    # ---------------------------------------------------------------------------------- stats

    def stats(self, mask: Callable[[str], str]) -> dict[str, Any]:
        by_token: dict[str, dict[str, int]] = {}

        def entry(token: str) -> dict[str, int]:
            return by_token.setdefault(mask(token), {"collections": 0, "collections_created": 0, "runs": 0})

        for c in self.collections.values():
            entry(c.token)["collections"] += 1
        for token, created in self.created_by_token.items():
            entry(token)["collections_created"] = created
        for r in self.runs.values():
            entry(r.token)["runs"] += 1
        return {
            "collections": len(self.collections),
            "collections_created": sum(self.created_by_token.values()),
            "runs": len(self.runs),
            "jobs": self.jobs_alive,
            "by_token": by_token,
        }
