"""GET …/runs/{rid}/jobs: query parsing, live cursor walks (docs/api-notes.md#jobs-paging-and-inline-results).

Two orders exist. Insertion order (`order_by` absent or `id`) walks `run.jobs`. `completed_at` order
is two segments: terminal jobs in completion order (`run.terminal`, already sorted because stamps
only grow), then non-terminal jobs in insertion order, in both directions. A cursor is the position
key of the last item returned, `[order, completed_ms | null, index]` in URL-safe base64; pages are
evaluated live from that position, so a job that turns terminal mid-walk lands at the end of the
terminal segment and a `completed_at asc` walk still meets it.

`since_completed_at` is strictly-greater at microsecond precision against ms stamps; `ms > us // 1000`
is that comparison in integers (no float rounding at the boundary).
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..client.models import MAX_PAGE_SIZE, MAX_PAGE_SIZE_WITH_RESULTS, JobStatus
from .entities import JobRecord, RunRecord
from .timefmt import parse_iso_us

_DEFAULT_PAGE_SIZE = 100  # `limit` absent
_JOB_STATUS_NAMES = tuple(s.value for s in JobStatus)  # in the order the 422 lists them
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


class QueryError(ValueError):
    """A bad query parameter; `param` is named in the 422 (`loc: ["query", param]`)."""

    def __init__(self, param: str, message: str, kind: str = "value_error") -> None:
        super().__init__(message)
        self.param = param
        self.kind = kind


@dataclass(frozen=True)
class JobsQuery:
    limit: int
    statuses: frozenset[str] | None
    by_completion: bool
    desc: bool
    since_ms: int | None  # strictly-greater threshold in ms (see module docstring)
    cursor: tuple[int | None, int] | None
    include_results: bool


def parse_bool(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise QueryError(name, f"'{params[name]}' is not a boolean; use true or false", "bool_parsing")


def parse_query(params: Mapping[str, str]) -> JobsQuery:
    include_results = parse_bool(params, "include_results")
    raw_limit = params.get("limit")
    try:
        limit = _DEFAULT_PAGE_SIZE if raw_limit is None else int(raw_limit)
    except ValueError:
        raise QueryError("limit", f"'{raw_limit}' is not an integer", "int_parsing") from None
    if limit < 1:
        raise QueryError("limit", "limit must be >= 1", "greater_than_equal")
    limit = min(limit, MAX_PAGE_SIZE_WITH_RESULTS if include_results else MAX_PAGE_SIZE)
    statuses: frozenset[str] | None = None
    if params.get("status_filter"):
        wanted = [s.strip() for s in params["status_filter"].split(",") if s.strip()]
        unknown = [s for s in wanted if s not in _JOB_STATUS_NAMES]
        if unknown or not wanted:
            raise QueryError(
                "status_filter",
                f"unknown job status {unknown[:1]}; use {', '.join(_JOB_STATUS_NAMES)} (CSV allowed)",
            )
        statuses = frozenset(wanted)
    order_by = params.get("order_by", "id") or "id"
    if order_by not in ("id", "completed_at"):
        raise QueryError("order_by", f"'{order_by}' is not one of: id, completed_at", "literal_error")
    order_dir = params.get("order_dir", "asc") or "asc"
    if order_dir not in ("asc", "desc"):
        raise QueryError("order_dir", f"'{order_dir}' is not one of: asc, desc", "literal_error")
    since_ms: int | None = None
    if params.get("since_completed_at"):
        since_us = parse_iso_us(params["since_completed_at"])
        if since_us is None:
            raise QueryError("since_completed_at", "not an ISO-8601 date-time", "datetime_parsing")
        since_ms = since_us // 1000
    by_completion = order_by == "completed_at"
    cursor = decode_cursor(params["cursor"], by_completion) if params.get("cursor") else None
    return JobsQuery(limit, statuses, by_completion, order_dir == "desc", since_ms, cursor, include_results)


def encode_cursor(job: JobRecord, by_completion: bool) -> str:
    key = ["c", job.completed_ms, job.index] if by_completion else ["i", None, job.index]
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(raw: str, by_completion: bool) -> tuple[int | None, int]:
    try:
        key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        order, ms, index = key
        if not isinstance(index, int) or not (ms is None or isinstance(ms, int)):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise QueryError("cursor", "cursor is not one this API returned; restart without it") from None
    if order != ("c" if by_completion else "i"):
        raise QueryError("cursor", "cursor belongs to another order_by; resend the same filters with it")
    return ms, index


def _insertion(run: RunRecord, query: JobsQuery) -> Iterator[JobRecord]:
    jobs = run.jobs
    if query.desc:
        start = len(jobs) - 1 if query.cursor is None else query.cursor[1] - 1
        return (jobs[i] for i in range(min(start, len(jobs) - 1), -1, -1))
    start = 0 if query.cursor is None else query.cursor[1] + 1
    return (jobs[i] for i in range(max(start, 0), len(jobs)))


def _by_completion(run: RunRecord, query: JobsQuery) -> Iterator[JobRecord]:
    done, stamps = run.terminal, run.terminal_ms
    cursor_ms, cursor_index = query.cursor if query.cursor is not None else (None, -1)
    in_tail = query.cursor is not None and cursor_ms is None  # cursor already past the terminal segment
    if not in_tail:
        since = query.since_ms
        if query.desc:
            stop = len(done) if query.cursor is None else bisect_left(stamps, cursor_ms or 0)
            low = 0 if since is None else bisect_right(stamps, since)
            yield from (done[i] for i in range(stop - 1, low - 1, -1))
        else:
            start = 0 if query.cursor is None else bisect_right(stamps, cursor_ms or 0)
            if since is not None:
                start = max(start, bisect_right(stamps, since))
            yield from (done[i] for i in range(start, len(done)))
    if query.since_ms is not None or run.pending == 0:
        return  # null completed_at never matches `since_completed_at`
    tail_start = cursor_index + 1 if in_tail else 0
    yield from (job for job in run.jobs[tail_start:] if not job.terminal)


def select(run: RunRecord, query: JobsQuery, hide_queued: bool) -> tuple[list[JobRecord], str | None, bool]:
    """Up to `limit` jobs after the cursor, plus `cursor_next` and `has_more` (evaluated now)."""
    candidates = _by_completion(run, query) if query.by_completion else _insertion(run, query)
    statuses, since = query.statuses, query.since_ms
    page: list[JobRecord] = []
    has_more = False
    for job in candidates:
        if statuses is not None and job.status not in statuses:
            continue
        if since is not None and (job.completed_ms is None or job.completed_ms <= since):
            continue
        if hide_queued and job.started_ms is None and not job.terminal:
            continue  # seeding window: rows not persisted yet (docs/sandbox.md#s2-fault-profile)
        if len(page) == query.limit:
            has_more = True
            break
        page.append(job)
    cursor_next = encode_cursor(page[-1], query.by_completion) if has_more else None
    return page, cursor_next, has_more
