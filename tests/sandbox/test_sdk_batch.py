"""The official SDK's batch flows complete against the sandbox (contract §13.3-§13.6).

`submit_batch` + `iter_results` over every job outcome of §6.1 (with a body over the 256 KB inline
cap, which the SDK must fetch from /result), `run_and_wait`, `iter_run_jobs` with small pages,
`list_runs(status_filter=...)` / `find_recent_batch`, and the idempotent replay of a submit.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from scrapingpros import SyncClient

from .helpers import COLLECTIONS, R_COLLECTIONS, R_CREATE_RUN, R_JOBS, R_RESULT, TOKEN, url
from .invariants import assert_run_invariants

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
    items = [
        {"url": url("ok/1"), "custom_id": "ok-1"},
        {"url": url("ok/2"), "custom_id": "ok-2"},
        {"url": url("missing", sp_status=404), "custom_id": "http-404"},
        {"url": url("guarded", sp_captcha=1), "custom_id": "captcha"},
        {"url": url("broken", sp_fail="Connection timeout"), "custom_id": "fail"},
        {"url": url("slow", sp_timeout=1), "custom_id": "timeout"},
        {"url": url("big", sp_bytes=BIG), "custom_id": "big"},
    ]
    batch = client.submit_batch("every-outcome", items)
    assert (batch.total, batch.submitted_count) == (7, 7)

    results = {r.custom_id: r for r in batch.iter_results(**FAST)}

    assert sorted(results) == sorted(str(i["custom_id"]) for i in items)
    for item in items:
        assert results[str(item["custom_id"])].url == item["url"]
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
    items = [{"url": url("x"), "custom_id": "x"}, {"url": url("y"), "custom_id": "y"}]
    first = client.submit_batch("replayed", items, idempotency_key="conformance-replay-1")
    second = client.submit_batch("replayed", items, idempotency_key="conformance-replay-1")

    assert second.collection_id == first.collection_id
    assert sp.stats()["collections_created"] == 1
    # POST …/run has no idempotency: the SDK's second submit started a second run (§5.1).
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
    # Replays even after the collection is gone (§4.1); still nothing new created.
    assert api.delete(f"{COLLECTIONS}/{original.json()['id']}").status_code == 200
    after_delete = api.post(COLLECTIONS, json=body, headers=headers)
    assert (after_delete.status_code, after_delete.json()) == (201, original.json())
    assert after_delete.headers["Idempotency-Replayed"] == "true"
    assert sp.stats()["collections_created"] == 2

    for batch in (first, second):
        assert_run_invariants(sp.base_url, TOKEN, batch.collection_id, batch.run_id)
