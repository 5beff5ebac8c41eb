"""A finished run's jobs listing read over parallel page streams, handed out as the one walk a single
stream makes.

Why: one cursor walk is strictly serial — a page's cursor is in its body, so the next page cannot be
asked for before this one has arrived in full. On a WAN link a page of 100 inline bodies of 100 KB
is 10 MB: 1.6 s at 50 Mbit/s plus the round trip, page after page. K streams over K connections
move K pages at once.

How the listing is split: under `order_by=completed_at` with `since_completed_at` (strictly
greater), stream i lists `(b_i, b_{i+1}]`: it starts at `since_completed_at=b_i` and stops at the
first job stamped after `b_{i+1}`, dropping the rest of that page (the next stream lists them).
The bounds are values, so jobs sharing a stamp never straddle two streams, and within a stream the
API's order is the single walk's order: stream 0's jobs, then stream 1's, … are exactly the single
walk. Bounds come from two probes (the first and the last terminal job, one job each, no bodies),
spread evenly over that span.

Choosing the bounds: for a run of at most `EXACT_SPLIT_MAX_JOBS` jobs left, from every job's stamp
(metadata pages of 1,000, no bodies: 2 requests for 2,000 jobs), cut after whole pages, so the
streams fetch exactly the single walk's pages and stop at their bound without asking further.
For larger runs, from two probes (the first and the last job) spread evenly over that time span;
each inner bound then costs one partly used page (K - 1 in all).

Memory: pages are parsed in their stream's thread and queued; the stream the consumer is reading
always proceeds, and the others stop fetching while the queued pages hold more than `budget`
bytes. At most `budget` + one page per stream (in flight) is held, whatever the run's size; a
larger budget lets more of a big run download ahead.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..client.core import LazyJobsPage, next_cursor
from ..client.models import Job

# Fetch one page: (cursor, since_completed_at) -> the page.
FetchPage = Callable[[str | None, datetime | None], LazyJobsPage]
# A probe: (since_completed_at, newest_first) -> the first terminal job in that order, if any.
Probe = Callable[[datetime | None, bool], Job | None]

# Chosen from bench/wan_export.py (docs/performance.md): more streams stop paying once the plan's
# rate, not the link, bounds the walk.
DEFAULT_MAX_STREAMS = 10
DEFAULT_BUDGET_BYTES = 192 * 1024 * 1024
# Fewer pages than this per stream, and the extra pages and probes cost more than they save.
MIN_PAGES_PER_STREAM = 2
# Up to this many jobs left, the bounds come from every job's stamp (metadata pages of 1,000): ~0.5 %
# of the bytes of the pages with bodies, for streams that end on a page boundary.
EXACT_SPLIT_MAX_JOBS = 20_000
PAGE_JOBS = 100


@dataclass(frozen=True)
class StreamPage:
    cursor: str | None  # as the API handed it out (the walk guard checks it)
    items: list[Job]
    size: int  # bytes of the page as received, for the budget


def streams_for(max_streams: int, jobs_left: int | None) -> int:
    """How many streams a walk of `jobs_left` jobs gets (1 when unknown or small)."""
    if max_streams <= 1 or not jobs_left:
        return 1
    pages = -(-jobs_left // PAGE_JOBS)
    return max(1, min(max_streams, pages // MIN_PAGES_PER_STREAM))


def bounds_from_stamps(after: datetime | None, stamps: list[datetime], streams: int) -> list[datetime | None]:
    """Bounds that give each stream whole pages: stream i ends at the stamp of the last job of its
    share (a multiple of 100 jobs), so no page is fetched twice. `stamps`: every job's completed_at
    after `after`, in listing order (from the metadata pages)."""
    pages = -(-len(stamps) // PAGE_JOBS)
    per_stream = -(-pages // streams) * PAGE_JOBS
    inner: list[datetime] = []
    for end in range(per_stream, len(stamps), per_stream):
        bound = stamps[end - 1]
        # equal stamps stay in one stream: a bound repeated (or the last stamp) is no bound
        if (not inner or bound > inner[-1]) and bound < stamps[-1]:
            inner.append(bound)
    return [after, *inner, None]


def split_bounds(
    after: datetime | None, first: datetime, last: datetime, streams: int
) -> list[datetime | None]:
    """`streams + 1` bounds: `after` (None = from the start), the inner ones, and None (no end).
    Inner bounds sit strictly inside [first, last) so every stream can hold jobs; fewer when the
    span is too short to cut (each bound is a distinct microsecond)."""
    span = last - first
    inner: list[datetime] = []
    for i in range(1, streams):
        bound = first + timedelta(microseconds=int(span / timedelta(microseconds=1) * i / streams))
        if bound < last and (not inner or bound > inner[-1]) and (after is None or bound > after):
            inner.append(bound)
    return [after, *inner, None]


class _Budget:
    """Bytes held in the queues; a stream that is not being read waits while it is spent."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.reading = 0  # the stream the consumer is on: it never waits
        self.stopped = False
        self.cond = threading.Condition()

    def wait_turn(self, stream: int) -> bool:
        """Block until `stream` may fetch another page; False once the walk was stopped."""
        with self.cond:
            while not self.stopped and stream != self.reading and self.held >= self.limit:
                self.cond.wait()
            return not self.stopped

    def add(self, size: int) -> None:
        with self.cond:
            self.held += size

    def release(self, size: int) -> None:
        with self.cond:
            self.held -= size
            self.cond.notify_all()

    def advance(self, stream: int) -> None:
        with self.cond:
            self.reading = stream
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()


class _Stream:
    def __init__(self, index: int, since: datetime | None, until: datetime | None) -> None:
        self.index, self.since, self.until = index, since, until
        self.pages: deque[StreamPage] = deque()
        self.done = False
        self.error: BaseException | None = None


class PageStreams:
    """Iterate `pages()` once: every page of the walk after `after`, in the single walk's order."""

    def __init__(
        self,
        fetch: FetchPage,
        bounds: list[datetime | None],
        *,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        self.fetch = fetch
        self.streams = [_Stream(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
        self.budget = _Budget(budget_bytes)
        self.ready = threading.Condition()
        self.peak_bytes = 0  # for the benchmark's memory row

    def _run(self, stream: _Stream) -> None:
        cursor: str | None = None
        try:
            while self.budget.wait_turn(stream.index):
                lazy = self.fetch(cursor, stream.since)
                cursor, size = next_cursor(lazy.head), lazy.size
                items = lazy.page().items
                del lazy  # the raw body: only the parsed items wait in the queue
                if stream.until is not None:
                    kept = [j for j in items if j.completed_at is None or j.completed_at <= stream.until]
                    # Past the bound, the next stream lists the rest; at it exactly (a bound taken
                    # from a job's own stamp), nothing more is ours: no page to ask for.
                    if len(kept) < len(items) or (kept and kept[-1].completed_at == stream.until):
                        items, cursor = kept, None
                self.budget.add(size)
                with self.ready:
                    self.peak_bytes = max(self.peak_bytes, self.budget.held)
                    stream.pages.append(StreamPage(cursor, items, size))
                    self.ready.notify_all()
                if cursor is None:
                    break
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            stream.error = exc
        finally:
            with self.ready:
                stream.done = True
                self.ready.notify_all()

    def pages(self) -> Iterator[StreamPage]:
        threads = [
            threading.Thread(target=self._run, args=(s,), name=f"sp-stream-{s.index}", daemon=True)
            for s in self.streams
        ]
        for thread in threads:
            thread.start()
        try:
            for stream in self.streams:
                self.budget.advance(stream.index)
                while True:
                    with self.ready:
                        while not stream.pages and not stream.done and not self._failed():
                            self.ready.wait()
                        failed = self._failed()
                        if failed is not None:
                            raise failed
                        if not stream.pages:
                            break  # done and drained
                        page = stream.pages.popleft()
                    self.budget.release(page.size)
                    yield page
        finally:
            # Also on an error or an early close: no stream fetches on after the walk.
            self.budget.stop()
            for thread in threads:
                thread.join(timeout=60)

    def _failed(self) -> BaseException | None:
        return next((s.error for s in self.streams if s.error is not None), None)
