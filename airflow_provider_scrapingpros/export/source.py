"""Terminal jobs with their results, in `completed_at` order, with few API calls and bounded memory.

Reading: `GET …/jobs?limit=100&status_filter=completed,failed,timeout&order_by=completed_at
&order_dir=asc&include_results=true[&since_completed_at=…]`, following cursors
(docs/api-notes.md#jobs-paging-and-inline-results).
Completed jobs carry their body inline up to 256 KB; `/result` is called only for a completed job
whose inline `result` is null (a larger body, or an expired/lost one: the typed 404 tells which).
Failed and timed-out jobs need no call: their metadata is all there is. So a run of N jobs costs
⌈N/100⌉ pages plus one call per oversize body.

Resuming: `since_completed_at` is the high-water mark minus 1 µs (so a job stamped exactly at the
mark is listed again even if stamps were not unique) and jobs already recorded at the mark are
skipped by id, as the official SDK dedupes (docs/api-notes.md#what-the-official-sdk-relies-on).

Concurrency — a small thread pool over the sync hook, not the async twins under `asyncio.run`:
the rest of the pipeline (object storage through fsspec) is blocking anyway, and one pool lets the
next page, the `/result` fetches and the storage writes overlap without an event loop bridging
every write. (Measured: a single-threaded variant driving a private event loop was 5% slower.)
The hook's `requests.Session` is pooled and thread-safe for this use; its rate budget is shared
and locked. Memory: at most one page ahead (1.5 K pages over K streams, streams.py) plus `window`
results are held at once.

Fail closed on a listing that contradicts itself (`WalkGuard`): a job listed twice in one walk, a
job of another run, items out of `completed_at` order, a cursor handed out twice, or more jobs than
the run has. Exporting through any of them would write a `_SUCCESS.json` over duplicated and
missing jobs, or never end (a cursor that does not advance listed 535 pages in 60 s).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from ..client.core import JobFilters, LazyJobsPage, next_cursor
from ..client.models import MAX_PAGE_SIZE, MAX_PAGE_SIZE_WITH_RESULTS, TERMINAL_JOB_STATUSES, Job
from ..exceptions import ResultExpiredError, ResultLostError
from ..runs.rescrape import Attempt
from .chain import ChainRun
from .content import ExportOptions, Fetched, reason_of, wants_body
from .errors import ExportListingError
from .streams import (
    CHUNKS_PER_STREAM,
    EXACT_SPLIT_MAX_JOBS,
    PageStreams,
    bounds_from_stamps,
    split_bounds,
    streams_for,
)

_STATUS_FILTER = ",".join(sorted(TERMINAL_JOB_STATUSES))
# The walk every export reads (and the metadata walks that place stream bounds or match a chain).
WALK: JobFilters = {"status_filter": _STATUS_FILTER, "order_by": "completed_at", "order_dir": "asc"}


_NEXT_STEP = (
    "The pass stopped before committing anything after it. Retry the task: it lists the jobs again "
    "from the last committed one. If it persists, report it to ScrapingPros support with the run id."
)


class WalkGuard:
    """Checks one walk of the jobs listing as it goes. Memory is bounded: the cursors seen (one per
    page), the ids of the last two pages, and the ids sharing the latest `completed_at`."""

    def __init__(self, run_id: str, total: int | None) -> None:
        self.run_id = run_id
        self.total = total
        self.pages = self.listed = 0
        self._cursors: set[str] = set()
        self._page_ids: set[str] = set()
        self._previous_ids: set[str] = set()
        self._last: datetime | None = None
        self._at_last: set[str] = set()  # ids stamped exactly `_last`: equal stamps are legitimate

    def _fail(self, what: str) -> ExportListingError:
        return ExportListingError(f"The jobs listing of run {self.run_id} {what}. {_NEXT_STEP}")

    def page(self, cursor_next: str | None) -> None:
        self.pages += 1
        self._previous_ids, self._page_ids = self._page_ids, set()
        if cursor_next is not None:
            if cursor_next in self._cursors:
                raise self._fail(f"returned cursor {cursor_next!r} a second time (page {self.pages})")
            self._cursors.add(cursor_next)
        # Every page but the last carries at least one job: more pages than jobs is an endless walk.
        if self.total is not None and self.pages > self.total + 1:
            raise self._fail(f"went on for {self.pages} pages for a run of {self.total} jobs")

    def job(self, job: Job) -> None:
        jid, stamp = job.job_public_id, job.completed_at
        if job.run_public_id != self.run_id:
            raise self._fail(f"gave job {jid} of run {job.run_public_id}")
        repeated = jid in self._page_ids or jid in self._previous_ids
        if repeated or (stamp == self._last and jid in self._at_last):
            raise self._fail(f"gave job {jid} twice (page {self.pages})")
        if stamp is None:
            raise self._fail(f"gave terminal job {jid} without a completed_at")
        if self._last is not None and stamp < self._last:
            # a job listed again from further back lands here too: its stamp is an earlier one
            raise self._fail(
                f"is not in completed_at order: job {jid} (completed {stamp.isoformat()}) came after a job "
                f"completed {self._last.isoformat()}; a job may have been listed twice or skipped"
            )
        if stamp != self._last:
            self._last, self._at_last = stamp, set()
        self._at_last.add(jid)
        self._page_ids.add(jid)
        self.listed += 1
        if self.total is not None and self.listed > self.total:
            raise self._fail(f"listed more than the run's {self.total} jobs ({self.listed} so far)")


Merged = tuple[Job, tuple[Attempt, ...]]  # (the original job, every attempt at its request)
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
        # The run's `total_requests` (fixed when the run starts; the runner sets it from the poll each
        # pass makes anyway): a walk that lists more jobs than that fails closed.
        self.expected_total: int | None = None
        # Parallel page streams (streams.py): up to `max_streams` when the runner says how many jobs
        # a finished run has left to list (`jobs_left`); None (a run still going) keeps one stream.
        self.max_streams = 1
        self.jobs_left: int | None = None
        self.streams_used = 1

    def iter_fetched(self, since: datetime | None, skip_ids: set[str]) -> Iterator[Fetched]:
        after = since - timedelta(microseconds=1) if since is not None else None
        window = 2 * MAX_PAGE_SIZE_WITH_RESULTS
        guard = WalkGuard(self.run_id, self.expected_total)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sp-export") as pool:
            pending: deque[Pending] = deque()
            for items in self._walk(pool, after, guard):
                for job in items:
                    guard.job(job)  # skipped ids too: they are part of this walk
                    if job.job_public_id in skip_ids:
                        continue
                    pending.append(self._resolve(job, pool))
                    # Hand out what is ready in order; wait for an oversize body only when `window`
                    # jobs queue up behind it (its /result call runs meanwhile).
                    while pending and (len(pending) > window or _is_ready(pending[0])):
                        yield _ready(pending.popleft())
            while pending:
                yield _ready(pending.popleft())

    def _walk(
        self, pool: ThreadPoolExecutor, after: datetime | None, guard: WalkGuard
    ) -> Iterator[list[Job]]:
        """Each page's jobs, in the listing's order: over parallel streams when it pays."""
        window = streams_for(self.max_streams, self.jobs_left)
        bounds = self._stream_bounds(after, window) if window > 1 else [after, None]
        self.streams_used = min(window, len(bounds) - 1)
        if self.streams_used > 1:
            streams = PageStreams(self._page, bounds, window=window)
            for page in streams.pages():
                guard.page(page.cursor)
                yield page.items
            return
        page_future: Future[LazyJobsPage] | None = pool.submit(self._page, None, after)
        while page_future is not None:
            lazy = page_future.result()
            cursor = next_cursor(lazy.head)
            guard.page(cursor)
            # Ask for the next page before parsing this one's items: walking the cursors is the
            # export's critical path (each page's cursor is in its body), so the ~1.5 ms parse
            # of 100 inline bodies happens while the next page is being served.
            page_future = pool.submit(self._page, cursor, after) if cursor else None
            yield lazy.page().items

    def _stream_bounds(self, after: datetime | None, window: int) -> list[datetime | None]:
        """The chunks' bounds (streams.py): a page each from the jobs' stamps, or by time from two
        one-job probes; [after, None] when there is nothing to cut."""
        if self.jobs_left is not None and self.jobs_left <= EXACT_SPLIT_MAX_JOBS:
            stamps = [j.completed_at for j in self._metadata(after) if j.completed_at is not None]
            pages = -(-len(stamps) // MAX_PAGE_SIZE_WITH_RESULTS)
            return bounds_from_stamps(after, stamps, pages) if stamps else [after, None]
        first, last = self._probe(after, newest_first=False), self._probe(after, newest_first=True)
        if first is None or last is None or first.completed_at is None or last.completed_at is None:
            return [after, None]
        return split_bounds(after, first.completed_at, last.completed_at, window * CHUNKS_PER_STREAM)

    def _metadata(self, after: datetime | None) -> Iterator[Job]:
        """Every job of the walk, metadata only (1,000 a page), to place the stream bounds."""
        jobs: Iterator[Job] = self.hook.iter_jobs(
            self.collection_id,
            self.run_id,
            page_size=MAX_PAGE_SIZE,
            since_completed_at=after,
            **WALK,
        )
        return jobs

    def _probe(self, after: datetime | None, *, newest_first: bool) -> Job | None:
        page = self.hook.get_jobs_page(
            self.collection_id,
            self.run_id,
            limit=1,
            status_filter=_STATUS_FILTER,
            order_by="completed_at",
            order_dir="desc" if newest_first else "asc",
            since_completed_at=after,
        )
        return page.items[0] if page.items else None

    def _page(self, cursor: str | None, after: datetime | None) -> LazyJobsPage:
        page: LazyJobsPage = self.hook.get_jobs_page_lazy(
            self.collection_id,
            self.run_id,
            cursor=cursor,
            limit=MAX_PAGE_SIZE_WITH_RESULTS,
            since_completed_at=after,
            include_results=True,
            **WALK,
        )
        return page

    def _resolve(self, job: Job, pool: ThreadPoolExecutor) -> Pending:
        if job.status not in TERMINAL_JOB_STATUSES:  # the filter excludes them; fail closed anyway
            raise ValueError(f"Job {job.job_public_id} is {job.status!r} in a terminal-only listing.")
        return self._resolve_in(job, pool, ChainRun(self.collection_id, self.run_id))

    def _resolve_in(
        self, job: Job, pool: ThreadPoolExecutor, where: ChainRun, merged: Merged | None = None
    ) -> Pending:
        """`job` of the run at `where`; `merged` (merge.py) when it stands for an original job."""
        origin, attempts = merged if merged is not None else (None, None)
        if not wants_body(job, self.options):
            return Fetched(job, None, "failed", reason_of(job), origin=origin, attempts=attempts)
        if job.result is not None:
            return Fetched(job, job.result, "exported", reason_of(job), origin=origin, attempts=attempts)
        return pool.submit(self._fetch, job, where, merged)

    def _fetch(self, job: Job, where: ChainRun, merged: Merged | None = None) -> Fetched:
        origin, attempts = merged if merged is not None else (None, None)
        try:
            result = self.hook.get_job_result(where.collection_id, where.run_id, job.job_public_id)
        except ResultExpiredError as exc:
            return Fetched(
                job, None, "expired", "result_expired", exc.age_hours, origin=origin, attempts=attempts
            )
        except ResultLostError:
            return Fetched(job, None, "lost", "result_lost", origin=origin, attempts=attempts)
        return Fetched(job, result, "exported", reason_of(job), origin=origin, attempts=attempts)
