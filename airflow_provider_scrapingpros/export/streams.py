"""A finished run's jobs listing read over parallel connections, handed out as the one walk a single
cursor makes.

Why: one cursor walk is strictly serial — a page's cursor is in its body, so the next page cannot be
asked for before this one has arrived in full. On a WAN link a page of 100 inline bodies of 100 KB
is 10 MB: 1.6 s at 50 Mbit/s plus the round trip, page after page. K connections move K pages at
once.

How the listing is cut: under `order_by=completed_at` with `since_completed_at` (strictly greater),
chunk i lists `(b_i, b_{i+1}]`: it starts at `since_completed_at=b_i` and stops at the first job
stamped after `b_{i+1}`, dropping the rest of that page (the next chunk lists them), or at a job
stamped `b_{i+1}` exactly. The bounds are values, so jobs sharing a stamp never straddle two chunks,
and within a chunk the API's order is the single walk's order: chunk 0's jobs, then chunk 1's, …
are exactly the single walk.

Choosing the bounds: for a run of at most `EXACT_SPLIT_MAX_JOBS` jobs left, from every job's stamp
(metadata pages of 1,000, no bodies: 2 requests for 2,000 jobs): one chunk per page of 100, so the
chunks fetch exactly the single walk's pages. For larger runs, from two probes (the first and the
last job), `CHUNKS_PER_STREAM` chunks per connection spread evenly over that time span; each inner
bound then costs one partly used page.

The window: K workers take chunks in order, at most 1.5 K ahead of the one the consumer is reading,
so they keep K pages in flight all the way through the run while the consumer writes (a window of
exactly K left the workers idle behind the consumer: 6.4 s instead of 5.7 s for the WAN bench's
2,000 results). Memory: at most 1.5 K chunks (one page each when cut from the stamps) are held at
once, whatever the run's size.
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

# Chosen from bench/wan_export.py (docs/performance.md): more streams stop paying once the plan's
# rate, not the link, bounds the walk.
DEFAULT_MAX_STREAMS = 10
# Chunks per connection when cutting by time: each inner bound costs a partly used page.
CHUNKS_PER_STREAM = 4
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


class _Chunk:
    def __init__(self, index: int, since: datetime | None, until: datetime | None) -> None:
        self.index, self.since, self.until = index, since, until
        self.pages: deque[StreamPage] = deque()
        self.done = False
        self.error: BaseException | None = None


class PageStreams:
    """Iterate `pages()` once: every page of the walk after `bounds[0]`, in the single walk's order,
    fetched by `window` workers over the chunks `bounds` cut."""

    def __init__(self, fetch: FetchPage, bounds: list[datetime | None], *, window: int) -> None:
        self.fetch = fetch
        self.chunks = [_Chunk(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
        self.window = max(1, window)
        self.cond = threading.Condition()
        self.claimed = 0  # chunks handed to workers
        self.reading = 0  # the chunk the consumer is on
        self.stopped = False

    def _claim(self) -> _Chunk | None:
        with self.cond:
            while (
                not self.stopped
                and self.claimed < len(self.chunks)
                and self.claimed >= self.reading + self.window + self.window // 2
            ):
                self.cond.wait()
            if self.stopped or self.claimed >= len(self.chunks):
                return None
            chunk = self.chunks[self.claimed]
            self.claimed += 1
            return chunk

    def _work(self) -> None:
        while (chunk := self._claim()) is not None:
            self._walk(chunk)

    def _walk(self, chunk: _Chunk) -> None:
        cursor: str | None = None
        try:
            while not self.stopped:
                lazy = self.fetch(cursor, chunk.since)
                cursor = next_cursor(lazy.head)
                items = lazy.page().items
                del lazy  # the raw body: only the parsed items wait for the consumer
                if chunk.until is not None:
                    kept = [j for j in items if j.completed_at is None or j.completed_at <= chunk.until]
                    # Past the bound, the next chunk lists the rest; at it exactly (a bound taken
                    # from a job's own stamp), nothing more is ours: no page to ask for.
                    if len(kept) < len(items) or (kept and kept[-1].completed_at == chunk.until):
                        items, cursor = kept, None
                with self.cond:
                    chunk.pages.append(StreamPage(cursor, items))
                    self.cond.notify_all()
                if cursor is None:
                    break
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            chunk.error = exc
        finally:
            with self.cond:
                chunk.done = True
                self.cond.notify_all()

    def pages(self) -> Iterator[StreamPage]:
        workers = [
            threading.Thread(target=self._work, name=f"sp-stream-{n}", daemon=True)
            for n in range(min(self.window, len(self.chunks)))
        ]
        for worker in workers:
            worker.start()
        try:
            for chunk in self.chunks:
                with self.cond:
                    self.reading = chunk.index
                    self.cond.notify_all()
                while True:
                    with self.cond:
                        while not chunk.pages and not chunk.done and self._failed() is None:
                            self.cond.wait()
                        failed = self._failed()
                        if failed is not None:
                            raise failed
                        if not chunk.pages:
                            break  # done and drained
                        page = chunk.pages.popleft()
                    yield page
        finally:
            # Also on an error or an early close: no worker fetches on after the walk.
            with self.cond:
                self.stopped = True
                self.cond.notify_all()
            for worker in workers:
                worker.join(timeout=60)

    def _failed(self) -> BaseException | None:
        return next((c.error for c in self.chunks if c.error is not None), None)
