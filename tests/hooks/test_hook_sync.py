"""Every sync hook method round-trips against the sandbox over loopback."""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_scrapingpros.client.models import Job, ScrapeRequest
from airflow_provider_scrapingpros.exceptions import ScrapingProsNotFoundError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

from .helpers import logged, urls, wait_terminal

JOBS = "GET /v1/async/collections/{cid}/runs/{rid}/jobs"


def completed_at(job: Job) -> datetime:
    """A finished job's completion time (the model allows None for jobs still queued or running)."""
    assert job.completed_at is not None, job
    return job.completed_at


def test_collection_lifecycle(hook: ScrapingProsHook, sp: Any) -> None:
    specs: list[dict[str, Any] | ScrapeRequest] = [
        {"url": "https://example.com/a", "custom_id": "a"},
        {"url": "https://example.com/a", "custom_id": "a"},  # duplicate of item 0
        ScrapeRequest(url="http://127.0.0.1/admin"),  # private IP: blocked
    ]
    created = hook.create_collection("lifecycle", specs, idempotency_key="lifecycle-1")
    assert (created.name, created.message) == ("lifecycle", "Collection created successfully.")
    assert (created.duplicates_skipped, created.duplicate_urls) == (1, ["https://example.com/a"])
    assert [(b.index, b.reason) for b in created.blocked_urls] == [(2, "private_ip")]

    got = hook.get_collection(created.id)
    assert (got.id, got.name) == (created.id, "lifecycle")
    assert isinstance(got.created_at, float)
    assert [c.id for c in hook.list_collections(name="lifecycle")] == [created.id]
    assert created.id in [c.id for c in hook.list_collections()]
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert hook.list_collections(name="lifecycle", since=future) == []
    past = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)  # naive = UTC
    assert [c.id for c in hook.list_collections(name="lifecycle", since=past)] == [created.id]

    updated = hook.update_collection(created.id, "renamed", [{"url": "https://example.com/b"}])
    assert (updated.id, updated.name, updated.message) == (
        created.id,
        "renamed",
        "Collection updated successfully.",
    )
    assert hook.get_collection(created.id).name == "renamed"

    hook.delete_collection(created.id)
    with pytest.raises(ScrapingProsNotFoundError, match="not found"):
        hook.get_collection(created.id)
    assert hook.list_collections(name="renamed") == []
    assert sp.stats()["collections"] == 0


def test_runs_jobs_and_results(hook: ScrapingProsHook, sp: Any) -> None:
    specs = [*urls(5), {"url": "https://example.com/gone?sp_status=404", "custom_id": "gone"}]
    created = hook.create_collection("runs", specs)
    run = hook.create_run(created.id)
    assert (run.collection_id, run.status, run.total_requests, len(run.job_ids)) == (
        created.id,
        "in_progress",
        6,
        6,
    )

    final = wait_terminal(hook, created.id, run.run_id)
    assert (final.status, final.success_requests, final.failed_requests) == ("completed", 5, 1)
    assert [(f.status, f.error) for f in final.failed_jobs] == [("completed", "http_404")]
    listed = hook.list_runs(created.id)
    assert ([r.run_id for r in listed.items], listed.total) == ([run.run_id], 1)
    assert hook.list_runs(created.id, status_filter="in_progress").total == 0
    assert hook.list_runs(created.id, status_filter="completed").items[0].run_id == run.run_id

    jobs = list(hook.iter_jobs(created.id, run.run_id, page_size=2, order_by="completed_at", order_dir="asc"))
    assert sorted(j.job_public_id for j in jobs) == sorted(run.job_ids)
    stamps = [completed_at(j) for j in jobs]
    assert stamps == sorted(stamps) and len(set(stamps)) == 6
    assert logged(sp, JOBS) == 3  # 6 jobs, 2 per page

    newest_first = hook.get_jobs_page(
        created.id, run.run_id, order_by="completed_at", order_dir="desc", limit=6
    )
    assert [j.job_public_id for j in newest_first.items] == [j.job_public_id for j in reversed(jobs)]
    after = hook.get_jobs_page(created.id, run.run_id, order_by="completed_at", since_completed_at=stamps[2])
    assert [j.job_public_id for j in after.items] == [j.job_public_id for j in jobs[3:]]
    assert (after.has_more, after.cursor_next) == (False, None)

    ok = [j for j in jobs if j.is_success]
    assert len(ok) == 5
    assert {j.custom_id for j in ok} == {f"p{i}" for i in range(5)}
    inline = hook.get_jobs_page(created.id, run.run_id, include_results=True, status_filter=["completed"])
    assert len(inline.items) == 6
    assert all(j.result is not None and j.result.message for j in inline.items)
    result = hook.get_job_result(created.id, run.run_id, ok[0].job_public_id)
    assert result.message == "OK"
    assert result.html is not None and result.html == next(
        j.result.html for j in inline.items if j.job_public_id == ok[0].job_public_id and j.result
    )
    failed = hook.get_jobs_page(created.id, run.run_id, status_filter="failed,timeout")
    assert failed.items == []

    # The lazy twin: the cursor is known before the items are parsed, and the items are the same.
    first = hook.get_jobs_page_lazy(created.id, run.run_id, limit=4, order_by="completed_at")
    assert (first.head.has_more, first.head.cursor_next is not None) == (True, True)
    rest = hook.get_jobs_page_lazy(
        created.id, run.run_id, limit=4, order_by="completed_at", cursor=first.head.cursor_next
    )
    assert (rest.head.has_more, rest.head.cursor_next) == (False, None)
    walked = [j.job_public_id for page in (first, rest) for j in page.page().items]
    assert walked == [j.job_public_id for j in jobs]


def test_scrape_health_and_run_url(hook: ScrapingProsHook, sp: Any) -> None:
    assert hook.health().status == "ok"
    result = hook.scrape({"url": "https://example.com/sync", "format": "markdown"})
    assert result.statusCode == 200
    assert result.guidance is not None and result.guidance.success is True
    assert result.markdown and result.html is None
    assert hook.run_url("c1", "r1") == f"{sp.base_url}/v1/async/collections/c1/runs/r1"


def test_iter_jobs_is_lazy_and_memory_does_not_grow_with_the_run(hook: ScrapingProsHook, sp: Any) -> None:
    small = hook.create_collection("small", urls(200, "s"))
    large = hook.create_collection("large", urls(2000, "l"))
    runs = {"small": (small.id, hook.create_run(small.id)), "large": (large.id, hook.create_run(large.id))}
    for cid, run in runs.values():
        assert wait_terminal(hook, cid, run.run_id).status == "completed"

    cid, run = runs["large"]
    sp.clear_requests()
    iterator = hook.iter_jobs(cid, run.run_id, page_size=100)
    assert logged(sp, JOBS) == 0  # nothing fetched before the first next()
    next(iterator)
    assert logged(sp, JOBS) == 1
    iterator.close()

    peaks = {}
    for name, (cid, run) in runs.items():
        tracemalloc.start()
        seen = sum(1 for _ in hook.iter_jobs(cid, run.run_id, page_size=100))
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert seen == run.total_requests
    # Ten times the jobs, about the same peak: one page at a time is held.
    assert peaks["large"] < 1.5 * peaks["small"], peaks
