"""Runs and jobs over their lifetime (docs/api-notes.md#runs, docs/api-notes.md#retention): empty runs, the
per-token concurrency cap (queued jobs are `processing` with `started_at: null`; a sync scrape with no free
slot is a 429), field shapes and URL truncation, plain 404s and 422s, and the 90-day metadata purge."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import COLLECTIONS, TOKEN, get_run, http, list_jobs, run_path, start_run, submit, url
from .invariants import ISO_MS_Z, assert_run_invariants
from .webhook_receiver import WebhookReceiver


def test_empty_collection_run_completes_at_once(sp: SandboxControl, api: httpx.Client) -> None:
    with WebhookReceiver() as receiver:
        cid = api.post(COLLECTIONS, json={"name": "empty", "callback_url": receiver.url}).json()["id"]
        created = start_run(api, cid)
        assert (created["status"], created["total_requests"], created["job_ids"]) == ("in_progress", 0, [])
        assert get_run(api, cid, created["run_id"])["status"] == "completed"
        assert len(receiver.wait(1)) == 1
    checked = assert_run_invariants(sp.base_url, TOKEN, cid, created["run_id"])
    assert checked.jobs == []


def test_concurrency_cap_queues_jobs(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(clock="manual")
    sb.control.set_token(TOKEN, max_concurrent_jobs=2)
    with http(sb.base_url) as api:
        cid, rid = submit(api, [{"url": url(f"c/{i}")} for i in range(5)])
        jobs = list_jobs(api, cid, rid)
        assert [j["status"] for j in jobs] == ["processing"] * 5
        assert [j["started_at"] is not None for j in jobs] == [True, True, False, False, False]
        assert all(j["is_success"] is None and j["completed_at"] is None for j in jobs)
        busy = api.post("/v1/sync/scrape", json={"url": url("sync")})
        assert (busy.status_code, busy.headers["Retry-After"]) == (429, "1")
        assert "quota" not in busy.text.lower()

        sb.control.advance(0.2)  # the default 200 ms fetch: the first two end, the next two start
        jobs = list_jobs(api, cid, rid)
        assert [j["status"] for j in jobs] == [
            "completed",
            "completed",
            "processing",
            "processing",
            "processing",
        ]
        assert [j["started_at"] is not None for j in jobs] == [True, True, True, True, False]
        # Under order_by=completed_at, unfinished jobs sort after the finished ones in both
        # directions, in insertion order among themselves.
        ids = [j["job_public_id"] for j in jobs]
        asc = list_jobs(api, cid, rid, order_by="completed_at", limit=2)
        desc = list_jobs(api, cid, rid, order_by="completed_at", order_dir="desc", limit=2)
        assert [j["job_public_id"] for j in asc[2:]] == [j["job_public_id"] for j in desc[2:]] == ids[2:]
        assert [j["job_public_id"] for j in asc[:2]] == [j["job_public_id"] for j in reversed(desc[:2])]
        sb.control.advance(1)
    assert_run_invariants(sb.base_url, TOKEN, cid, rid, wait_s=0)


def test_field_shapes_and_url_truncation(sp: SandboxControl, api: httpx.Client) -> None:
    long_url = url("long/" + "a" * 3000)
    cid, rid = submit(api, [{"url": long_url, "custom_id": "long"}])
    checked = assert_run_invariants(sp.base_url, TOKEN, cid, rid)
    job = checked.jobs[0]
    assert (job["url_truncated"], len(job["url"])) == (True, 2048)
    assert long_url.startswith(job["url"])
    for stamp in ("queued_at", "started_at", "completed_at"):
        assert ISO_MS_Z.match(job[stamp]), (stamp, job[stamp])
    assert (job["protection_stack"], job["rule_hits"], job["custom_id"]) == ([], [], "long")
    assert (job["run_public_id"], job["collection_id"], job["status_code"]) == (rid, cid, 200)
    assert isinstance(checked.run["created_at"], float)


def test_plain_404s_and_422s(sp: SandboxControl, api: httpx.Client) -> None:
    cid, rid = submit(api, [{"url": url("p")}])
    missing = "00000000-0000-4000-8000-000000000000"
    assert api.post(f"{COLLECTIONS}/{missing}/run").json() == {"detail": "Collection not found"}
    unknown_run = api.get(run_path(cid, missing))
    assert (unknown_run.status_code, unknown_run.json()) == (404, {"detail": "Run not found"})
    assert api.get(f"{COLLECTIONS}/{cid}/runs", params={"status_filter": "done"}).status_code == 422
    assert api.get(f"{COLLECTIONS}/{cid}/runs", params={"status_filter": "failed"}).json() == {
        "items": [],
        "total": 0,
    }
    assert_run_invariants(sp.base_url, TOKEN, cid, rid)


def test_metadata_purged_after_90_days(sp: SandboxControl, api: httpx.Client) -> None:
    cid, rid = submit(api, [{"url": url("old")}])
    assert_run_invariants(sp.base_url, TOKEN, cid, rid)
    sp.advance(89 * 86400)
    assert get_run(api, cid, rid)["status"] == "completed"
    sp.advance(2 * 86400)
    assert api.get(run_path(cid, rid)).status_code == 404
    assert api.get(f"{run_path(cid, rid)}/jobs").status_code == 404
    assert api.get(f"{COLLECTIONS}/{cid}/runs").json() == {"items": [], "total": 0}
    assert api.get(f"{COLLECTIONS}/{cid}").status_code == 200  # collections live until deleted
