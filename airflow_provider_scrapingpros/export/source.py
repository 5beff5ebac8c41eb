"""Terminal jobs with their results, in `completed_at` order, with few API calls and bounded memory.

Reading: `GET …/jobs?limit=100&status_filter=completed,failed,timeout&order_by=completed_at
&order_dir=asc&include_results=true[&since_completed_at=…]`, following cursors (contract §6.3-6.4).
Completed jobs carry their body inline up to 256 KB; `/result` is called only for a completed job
whose inline `result` is null (a larger body, or an expired/lost one: the typed 404 tells which).
Failed and timed-out jobs need no call: their metadata is all there is. So a run of N jobs costs
⌈N/100⌉ pages plus one call per oversize body.

Resuming: `since_completed_at` is the high-water mark minus 1 µs (so a job stamped exactly at the
mark is listed again even if stamps were not unique) and jobs already recorded at the mark are
skipped by id (contract §13.6: dedupe by `job_public_id`).

Concurrency — a small thread pool over the sync hook, not the async twins under `asyncio.run`:
the rest of the pipeline (object storage through fsspec) is blocking anyway, and one pool lets the
next page, the `/result` fetches and the storage writes overlap without an event loop bridging
every write. (Measured: a single-threaded variant driving a private event loop was 5% slower.)
The hook's `requests.Session` is pooled and thread-safe for this use; its rate budget is shared
and locked. Memory: at most one page ahead plus `window` results are held at once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from ..client import LazyJobsPage, next_cursor
from ..exceptions import ResultExpiredError, ResultLostError
from ..models import TERMINAL_JOB_STATUSES, Job
from .content import ExportOptions, Fetched, reason_of, wants_body

PAGE_SIZE = 100
_STATUS_FILTER = ",".join(sorted(TERMINAL_JOB_STATUSES))


Pending = Fetched | Future[Fetched]  # most jobs are ready at once: no Future for them


def _is_ready(item: Pending) -> bool:
    return not isinstance(item, Future) or item.done()


def _ready(item: Pending) -> Fetched:
    return item.result() if isinstance(item, Future) else item


class ResultSource:
    def __init__(
        self,
        hook: Any,
        collection_id: str,
        run_id: str,
        options: ExportOptions,
        *,
        workers: int = 8,
    ) -> None:
        self.hook = hook
        self.collection_id = collection_id
        self.run_id = run_id
        self.options = options
        self.workers = workers
        self.pages = 0
        self.result_calls = 0
        self._lock = threading.Lock()

    def iter_fetched(self, since: datetime | None, skip_ids: set[str]) -> Iterator[Fetched]:
        after = since - timedelta(microseconds=1) if since is not None else None
        window = 2 * PAGE_SIZE
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sp-export") as pool:
            page_future: Future[LazyJobsPage] | None = pool.submit(self._page, None, after)
            pending: deque[Pending] = deque()
            while page_future is not None:
                lazy = page_future.result()
                cursor = next_cursor(lazy.head)
                # Ask for the next page before parsing this one's items: walking the cursors is the
                # export's critical path (each page's cursor is in its body), so the ~1.5 ms parse
                # of 100 inline bodies happens while the next page is being served.
                page_future = pool.submit(self._page, cursor, after) if cursor else None
                for job in lazy.page().items:
                    if job.job_public_id in skip_ids:
                        continue
                    pending.append(self._resolve(job, pool))
                    # Hand out what is ready in order; wait for an oversize body only when `window`
                    # jobs queue up behind it (its /result call runs meanwhile).
                    while pending and (len(pending) > window or _is_ready(pending[0])):
                        yield _ready(pending.popleft())
            while pending:
                yield _ready(pending.popleft())

    def _page(self, cursor: str | None, after: datetime | None) -> LazyJobsPage:
        with self._lock:
            self.pages += 1
        page: LazyJobsPage = self.hook.get_jobs_page_lazy(
            self.collection_id,
            self.run_id,
            cursor=cursor,
            limit=PAGE_SIZE,
            status_filter=_STATUS_FILTER,
            order_by="completed_at",
            order_dir="asc",
            since_completed_at=after,
            include_results=True,
        )
        return page

    def _resolve(self, job: Job, pool: ThreadPoolExecutor) -> Pending:
        if job.status not in TERMINAL_JOB_STATUSES:  # the filter excludes them; fail closed anyway
            raise ValueError(f"Job {job.job_public_id} is {job.status!r} in a terminal-only listing.")
        if not wants_body(job, self.options):
            return Fetched(job, None, "failed", reason_of(job))
        if job.result is not None:
            return Fetched(job, job.result, "exported", reason_of(job))
        return pool.submit(self._fetch, job)

    def _fetch(self, job: Job) -> Fetched:
        with self._lock:
            self.result_calls += 1
        try:
            result = self.hook.get_job_result(self.collection_id, self.run_id, job.job_public_id)
        except ResultExpiredError as exc:
            return Fetched(job, None, "expired", "result_expired", exc.age_hours)
        except ResultLostError:
            return Fetched(job, None, "lost", "result_lost")
        return Fetched(job, result, "exported", reason_of(job))
