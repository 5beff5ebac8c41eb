"""The official SDK's batch flows complete against the sandbox
(docs/api-notes.md#what-the-official-sdk-relies-on).

`submit_batch` + `iter_results` over every job outcome (with a body over the 256 KB inline
cap, which the SDK must fetch from /result), `run_and_wait`, `iter_run_jobs` with small pages,
`list_runs(status_filter=...)` / `find_recent_batch`, and the idempotent replay of a submit.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import httpx
from scrapingpros import AsyncClient, SyncClient

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import COLLECTIONS, R_COLLECTIONS, R_CREATE_RUN, R_JOBS, R_RESULT, TOKEN, BatchItems, url
from .invariants import assert_run_invariants, parse_stamp

FAST = {"poll_interval": 0.02, "timeout": 30.0}
SUCCESS_CRITERION = {
    "version": "content_success_v1",
    "rules": [
        "status == 'completed'",
        "200 <= status_code < 300",
        "potentiallyBlockedByCaptcha is false",
        "block_reason is null or 'none'",
    ],
}
BIG = 300_000  # bytes: over the 262,144-byte inline cap, so the SDK must GET /result


def test_submit_batch_iter_results_every_outcome(sp: SandboxControl, client: SyncClient) -> None:
    targets = {
        "ok-1": url("ok/1"),
        "ok-2": url("ok/2"),
        "http-404": url("missing", sp_status=404),
        "captcha": url("guarded", sp_captcha=1),
        "fail": url("broken", sp_fail="Connection timeout"),
        "timeout": url("slow", sp_timeout=1),
        "big": url("big", sp_bytes=BIG),
    }
    items: BatchItems = [{"url": target, "custom_id": key} for key, target in targets.items()]
    batch = client.submit_batch("every-outcome", items)
    assert (batch.total, batch.submitted_count) == (7, 7)

    results = {r.custom_id: r for r in batch.iter_results(**FAST)}

    assert sorted(results, key=str) == sorted(targets)
    assert {key: result.url for key, result in results.items()} == targets
    for key in ("ok-1", "ok-2"):
        ok = results[key]
        assert (ok.message, ok.statusCode, ok.guidance and ok.guidance.success) == ("OK", 200, True)
        assert ok.html
    missing = results["http-404"]
    assert (missing.message, missing.statusCode) == ("OK", 404)
    assert missing.guidance is not None
    assert (missing.guidance.success, missing.guidance.error_type) == (False, "http_404")
    captcha = results["captcha"]
    assert (captcha.statusCode, captcha.potentiallyBlockedByCaptcha) == (200, True)
    assert captcha.guidance is not None
    assert (captcha.guidance.success, captcha.guidance.error_type) == (False, "captcha")
    for key, message, error_type in (
        ("fail", "Connection timeout", "failed"),
        ("timeout", "Worker timeout after 60s", "timeout"),
    ):
        bad = results[key]
        assert (bad.message, bad.statusCode, bad.html) == (message, None, None)
        assert bad.guidance is not None
        assert (bad.guidance.success, bad.guidance.error_type) == (False, error_type)
    big = results["big"]
    assert (big.message, big.statusCode) == ("OK", 200)
    assert big.guidance is not None and big.guidance.success is True
    assert big.html is not None and len(big.html.encode()) == BIG
    assert (batch.success_count, batch.failed_count) == (3, 4)

    checked = assert_run_invariants(sp.base_url, TOKEN, batch.collection_id, batch.run_id)
    run = checked.run
    assert (run["status"], run["total_requests"]) == ("completed", 7)
    assert (run["success_requests"], run["failed_requests"], run["timeout_requests"]) == (3, 3, 1)
    assert sorted(f["error"] for f in run["failed_jobs"]) == sorted(
        ["http_404", "blocked: captcha", "Connection timeout", "Worker timeout after 60s"]
    )
    # Only the body over the inline cap needed its own round trip.
    big_job = next(j for j in checked.jobs if j["custom_id"] == "big")
    fetched = sp.requests(route=R_RESULT)
    assert [r["path"].rsplit("/", 2)[-2] for r in fetched] == [big_job["job_public_id"]]
    assert [r["status"] for r in fetched] == [200]


def test_run_and_wait(sp: SandboxControl, client: SyncClient) -> None:
    col = client.create_collection("run-and-wait", [{"url": url(f"page/{i}")} for i in range(5)])
    assert col.id is not None
    run = client.run_and_wait(col.id, **FAST)

    assert (run.status, run.total_requests, run.success_requests) == ("completed", 5, 5)
    assert (run.failed_requests, run.timeout_requests, run.failed_jobs) == (0, 0, [])
    assert (run.callback_url, run.callback_status, run.all_jobs_persisted) == (None, None, True)
    assert run.success_criterion is not None
    assert run.success_criterion.model_dump() == SUCCESS_CRITERION
    assert sp.count(R_CREATE_RUN) == 1
    assert_run_invariants(sp.base_url, TOKEN, col.id, run.run_id)


def test_iter_run_jobs_small_pages(sp: SandboxControl, client: SyncClient) -> None:
    col = client.create_collection("small-pages", [{"url": url(f"p/{i}")} for i in range(23)])
    assert col.id is not None
    run = client.run_and_wait(col.id, **FAST)
    sp.clear_requests()

    jobs = list(client.iter_run_jobs(col.id, run.run_id, page_size=5))

    assert [j.job_public_id for j in jobs] == run.job_ids  # insertion order, each once
    assert [j.url for j in jobs] == [url(f"p/{i}") for i in range(23)]
    pages = sp.requests(route=R_JOBS)
    assert len(pages) == 5  # ceil(23 / 5), and nothing after the last page
    assert all("limit=5" in p["query"] for p in pages)
    merged = client.get_run_jobs(col.id, run.run_id, limit=5, status_filter=["completed"])
    assert [j.job_public_id for j in merged.items] == run.job_ids
    assert_run_invariants(sp.base_url, TOKEN, col.id, run.run_id)


def test_list_runs_status_filter_and_reattach(sp: SandboxControl, client: SyncClient) -> None:
    col = client.create_collection("reattach-me", [{"url": url("a")}, {"url": url("b")}])
    assert col.id is not None
    done = client.run_and_wait(col.id, **FAST)
    sp.freeze()  # nothing progresses: the next run stays in progress while we look for it
    live = client.create_run(col.id)

    in_progress = client.list_runs(col.id, status_filter="in_progress")
    completed = client.list_runs(col.id, status_filter="completed")
    both = client.list_runs(col.id)
    assert ([r.run_id for r in in_progress.items], in_progress.total) == ([live.run_id], 1)
    assert ([r.run_id for r in completed.items], completed.total) == ([done.run_id], 1)
    assert ([r.run_id for r in both.items], both.total) == ([live.run_id, done.run_id], 2)

    since = datetime.fromtimestamp(sp.clock()["epoch"], tz=timezone.utc) - timedelta(minutes=5)
    found = client.find_recent_batch(name="reattach-me", since=since)
    assert found is not None
    assert (found.collection_id, found.run_id) == (col.id, live.run_id)

    sp.resume()
    assert_run_invariants(sp.base_url, TOKEN, col.id, live.run_id)
    assert_run_invariants(sp.base_url, TOKEN, col.id, done.run_id)


def test_idempotent_replay(sp: SandboxControl, client: SyncClient, api: httpx.Client) -> None:
    items: BatchItems = [{"url": url("x"), "custom_id": "x"}, {"url": url("y"), "custom_id": "y"}]
    first = client.submit_batch("replayed", items, idempotency_key="conformance-replay-1")
    second = client.submit_batch("replayed", items, idempotency_key="conformance-replay-1")

    assert second.collection_id == first.collection_id
    assert sp.stats()["collections_created"] == 1
    # POST …/run has no idempotency: the SDK's second submit started a second run (docs/api-notes.md#runs).
    assert second.run_id != first.run_id
    assert [r["idempotency_key"] for r in sp.requests(route=R_COLLECTIONS)] == ["conformance-replay-1"] * 2

    body = {"name": "raw", "requests": items}
    headers = {"Idempotency-Key": "conformance-replay-2"}
    original = api.post(COLLECTIONS, json=body, headers=headers)
    replay = api.post(COLLECTIONS, json=body, headers=headers)
    assert original.status_code == replay.status_code == 201
    assert original.headers.get("Idempotency-Replayed") != "true"
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert replay.json() == original.json()
    # Replays even after the collection is gone; still nothing new created.
    assert api.delete(f"{COLLECTIONS}/{original.json()['id']}").status_code == 200
    after_delete = api.post(COLLECTIONS, json=body, headers=headers)
    assert (after_delete.status_code, after_delete.json()) == (201, original.json())
    assert after_delete.headers["Idempotency-Replayed"] == "true"
    assert sp.stats()["collections_created"] == 2

    for batch in (first, second):
        assert_run_invariants(sp.base_url, TOKEN, batch.collection_id, batch.run_id)


def test_resume_from_a_high_water_mark(sp: SandboxControl, client: SyncClient) -> None:
    """A reader that persisted its mark gets exactly the jobs completed after it.

    (SDK 0.7.8's `client.iter_results(cid, rid, since=mark)` on an already finished run never
    exits: it waits to have *seen* as many jobs as the run's counters report. So the resume is shown
    with the SDK's listing calls, which send `since_completed_at` the way the SDK formats it.)
    """
    items: BatchItems = [{"url": url(f"r/{i}"), "custom_id": str(i)} for i in range(6)]
    batch = client.submit_batch("resume", items)
    first = list(batch.iter_results(**FAST))
    checked = assert_run_invariants(sp.base_url, TOKEN, batch.collection_id, batch.run_id)
    assert sorted(r.custom_id or "" for r in first) == [str(i) for i in range(6)]
    assert batch.last_completed_at == parse_stamp(max(str(j["completed_at"]) for j in checked.jobs))

    by_stamp = sorted(checked.jobs, key=lambda j: str(j["completed_at"]))
    mark = parse_stamp(by_stamp[2]["completed_at"])  # a datetime: the SDK sends isoformat(ms)
    after = client.get_run_jobs(batch.collection_id, batch.run_id, since_completed_at=mark, limit=2)
    assert sorted(j.custom_id or "" for j in after.items) == sorted(j["custom_id"] for j in by_stamp[3:])
    streamed = client.iter_run_jobs(
        batch.collection_id, batch.run_id, since_completed_at=batch.last_completed_at, page_size=2
    )
    assert list(streamed) == []


def test_async_client_batch(sp: SandboxControl) -> None:
    items: BatchItems = [{"url": url("async/ok")}, {"url": url("async/404", sp_status=404)}]

    async def drain() -> tuple[str, str, list[tuple[str | None, int | None]]]:
        async with AsyncClient(TOKEN, base_url=sp.base_url) as client:
            batch = await client.submit_batch("async", items)
            seen = [(r.url, r.statusCode) async for r in batch.iter_results(**FAST)]
            return batch.collection_id, batch.run_id, seen

    cid, rid, seen = asyncio.run(drain())
    assert sorted(seen, key=str) == sorted(
        [(url("async/ok"), 200), (url("async/404", sp_status=404), 404)], key=str
    )
    assert_run_invariants(sp.base_url, TOKEN, cid, rid)
